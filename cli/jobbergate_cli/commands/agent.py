"""``jobbergate agent ...``: the cluster agent, run on a Slurm login node."""

from __future__ import annotations

import click


@click.group("agent", help="The cluster agent: Slurm's side of job submissions.\n\nExample: jobbergate agent run")
def agent():
    pass


@agent.command(
    help="Submit this cluster's new submissions with sbatch and report their jobs' states, every few seconds.\n\n"
    "Settings: flags, then JOBBERGATE_AGENT_* variables (the upstream agent's names), then "
    "/etc/jobbergate/agent.toml (JOBBERGATE_AGENT_CONFIG). SIGTERM stops it after the current step.\n\n"
    "Example: JOBBERGATE_AGENT_TOKEN=... jobbergate agent run --base-url http://127.0.0.1:8000 --cluster cluster-a"
)
@click.option("--base-url", help="The API's base URL (JOBBERGATE_AGENT_BASE_API_URL).")
@click.option("--cluster", "cluster_name", help="This cluster's name: its token's client id.")
@click.option("--token", help="A server-issued cluster token (JOBBERGATE_AGENT_TOKEN).")
@click.option("--interval", type=click.FloatRange(min=0.2), help="Seconds between cycles (default 2).")
@click.option("--user-mapper", help="single-user-mapper, email-local-part-mapper, or a plug-in's name.")
@click.option("--submitter", help="The Unix account of single-user-mapper (default: the agent's own).")
@click.option("--once", is_flag=True, help="Run one cycle and exit (status 1 when it failed).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO")
@click.pass_obj
def run(obj, base_url, cluster_name, token, interval, user_mapper, submitter, once, log_level):
    import logging

    from jobbergate_cli.agent.loop import main_loop
    from jobbergate_cli.agent.mappers import load_mapper
    from jobbergate_cli.agent.settings import load_agent_settings

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(message)s", force=True)
    settings = load_agent_settings(
        base_api_url=base_url or (obj.flags.get("base_api_url") if obj else None),
        cluster_name=cluster_name,
        token=token,
        task_jobs_interval_seconds=interval,
        slurm_user_mapper=user_mapper,
        single_user_submitter=submitter,
    )
    try:
        load_mapper(settings)
    except (ValueError, LookupError) as error:
        raise click.UsageError(str(error)) from None
    raise SystemExit(main_loop(settings, once=once))
