"""``jobbergate login``, ``logout`` and ``show-token``."""

from __future__ import annotations

import json

import click


@click.command(
    help="Sign in with the device code flow: open the URL shown (a browser opens when it can), approve, done.\n\n"
    "Example: OIDC_DOMAIN=auth.example.org/realms/hpc OIDC_CLIENT_ID=jobbergate-cli jobbergate login"
)
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not try to open a browser.")
@click.pass_obj
def login(obj, no_browser):
    from jobbergate_cli.tokens import claims, device_login

    def show(url: str, code: str) -> None:
        click.echo(f"Open {url} and approve the code {code}", err=True)
        if not no_browser:
            import webbrowser

            try:
                webbrowser.open(url)
            except webbrowser.Error:
                pass

    token = device_login(obj.settings, show)
    who = claims(token).get("email") or claims(token).get("sub")
    click.echo(f"Signed in as {who}.", err=True)


@click.command(help="Forget the cached tokens.\n\nExample: jobbergate logout")
@click.pass_obj
def logout(obj):
    from jobbergate_cli.tokens import logout as forget

    removed = forget(obj.settings)
    click.echo("Signed out." if removed else "There was no cached token.", err=True)


@click.command(
    "show-token",
    help="Print the access token in use (or its claims, or an HTTP header).\n\nExample: jobbergate show-token --decode",
)
@click.option("--decode", is_flag=True, help="Print the token's claims as JSON.")
@click.option("--header", is_flag=True, help="Print an Authorization header line.")
@click.option("--prefix", is_flag=True, help="Print it after 'Bearer '.")
@click.option("--refresh/--no-refresh", default=False, help="The cached refresh token instead of the access token.")
@click.option("--plain/--no-plain", default=True, help="Accepted as upstream has it; the token is always plain text.")
@click.pass_obj
def show_token(obj, decode, header, prefix, refresh, plain):
    from jobbergate_cli.tokens import SignInError, access_token, cached_token, claims

    if refresh:
        token = cached_token(obj.settings, "refresh")
        if not token:
            raise SignInError("There is no cached refresh token: run jobbergate login")
    else:
        token = access_token(obj.settings)
    if decode:
        click.echo(json.dumps(claims(token), indent=2))
    elif header:
        click.echo(f"Authorization: Bearer {token}")
    elif prefix:
        click.echo(f"Bearer {token}")
    else:
        click.echo(token)
