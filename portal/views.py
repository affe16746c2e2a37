"""The portal's pages (URLs in ``portal/urls.py`` are a contract: tests and docs use them).

Every page reads rows through the same querysets as the API (``visible_to`` the signed-in user's principal, from
``accounts.principal.principal_for_session``) and changes them through the same services; a refusal of a service
(``jobbergate.errors``) is shown as a message or next to its field, never as an error page.
"""

from __future__ import annotations

import functools
import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.principal import principal_for_session
from applications.bundle import read_archive
from applications.models import JobScriptTemplate
from applications.services import (
    bundle_limits,
    check_may_replace,
    checked_answers,
    form_questions,
    load_bundle,
    runtime_config,
    upsert_application,
)
from jobbergate.errors import DomainError, Malformed
from jobbergate.fairness import heavy_request
from jobbergate.validation import check_identifier
from jobbergate.views import file_download
from jobscripts.models import JobScript
from portal import services
from portal.forms import RunForm, answer_input, answers_from_form, question_fields, sbatch_lines
from portal.models import Preset
from submissions import output
from submissions.choices import TERMINAL_STATUSES, JobSubmissionStatus
from submissions.models import ClusterStatus, JobSubmission
from submissions.services import cancel_submission, clone_submission

PAGE_SIZE = 50
CATALOGUE_PAGE_SIZE = 24
SEARCH_MAX = 200
# The output panel's next look: soon while text is coming, else at the status panel's pace (portal.js slows both
# down while the tab is hidden).
OUTPUT_POLL_TEXT_MS = 500
OUTPUT_POLL_IDLE_MS = 3000
OUTPUT_END = mark_safe('<span class="output-end" data-complete="true"></span>')
OUTPUT_SETTLE_SECONDS = 120
"""How long after a submission's job can no longer run its panels still ask for output the agent ships late (every
few cycles); past that, a stream no agent marked complete (the upstream agent ships none; a job rejected or
cancelled before it ran has none) is not asked for again."""
OUTPUT_SETTLED = mark_safe(
    '<span class="output-end" data-complete="false">[the job has ended; no more output came from the cluster]</span>'
)

# The history's status facets: the words a user thinks in, each a set of the contract's statuses.
FACETS = {
    "waiting": (JobSubmissionStatus.CREATED,),
    "running": (JobSubmissionStatus.SUBMITTED,),
    "done": (JobSubmissionStatus.DONE,),
    "failed": (JobSubmissionStatus.REJECTED, JobSubmissionStatus.ABORTED),
    "cancelled": (JobSubmissionStatus.CANCELLED,),
}
SORTS = {"newest": ("-created_at", "-id"), "oldest": ("created_at", "id"), "name": ("name", "id")}


def signed_in(resource: str | None = None, verb: str | None = None):
    """Pages for signed-in users only; ``request.principal`` is who they are to every rule. With ``resource`` and
    ``verb``, the page needs the permission the API would ask for (``jobbergate:<resource>:<verb>``): a 403 says
    which, as the API does."""

    def decorate(view):
        @login_required
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            request.principal = principal_for_session(request.user, request.session)
            if resource and verb:
                require(request, resource, verb)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def require(request, resource: str, verb: str) -> None:
    if not request.principal.may(resource, verb):
        raise PermissionDenied(f"This needs the permission 'jobbergate:{resource}:{verb}'.")


def _search_text(request) -> str:
    return request.GET.get("q", "").replace("\x00", "").strip()[:SEARCH_MAX]


def _page(request, rows, size: int):
    return Paginator(rows, size).get_page(request.GET.get("page"))


def _query(**checked: str) -> str:
    """The query string of the links to the other pages: the page's own values as checked (never the raw request's,
    so no unknown parameter rides along)."""
    return urlencode({name: value for name, value in checked.items() if value})


def _application(request, key: str) -> JobScriptTemplate:
    rows = JobScriptTemplate.objects.visible_to(request.principal).filter(is_archived=False)
    return get_object_or_404(rows.by_key(key[:255]))


def _submission(request, pk: int) -> JobSubmission:
    return get_object_or_404(JobSubmission.objects.visible_to(request.principal).select_related("job_script"), pk=pk)


def _job_script(request, pk: int) -> JobScript:
    return get_object_or_404(JobScript.objects.visible_to(request.principal), pk=pk)


def _asked(request, template: JobScriptTemplate):
    """The questions the form asks (``form_questions``): reading them from a jobbergate.py the first time runs in
    the render workers every user shares, so it takes one of the user's slots (``heavy_request``), as a render
    does."""
    return form_questions(template, worker_slot=lambda: heavy_request(request.principal, what="renders"))


def _clusters() -> list[ClusterStatus]:
    return list(ClusterStatus.objects.order_by("client_id"))


def _show(request, error: DomainError) -> None:
    for line in error.messages or ["The request was refused."]:
        messages.error(request, line)


# Sign-in --------------------------------------------------------------------------------------------------------


class SignInView(LoginView):
    """Password sign-in (throttled by django-axes like the admin's) and, when configured, the OpenID provider's."""

    template_name = "portal/sign_in.html"
    redirect_authenticated_user = True


@require_POST
def sign_out(request):
    logout(request)
    return redirect("portal:sign-in")


# Catalogue and the application form -------------------------------------------------------------------------------


@require_GET
@signed_in("job-templates", "read")
def catalogue(request):
    rows = JobScriptTemplate.objects.visible_to(request.principal).filter(is_archived=False)
    search = _search_text(request)
    if search:
        rows = rows.filter(
            Q(name__icontains=search) | Q(identifier__icontains=search) | Q(description__icontains=search)
        )
    page = _page(
        request,
        rows.order_by("-created_at", "-id").only("id", "name", "identifier", "description", "questions", "created_at"),
        CATALOGUE_PAGE_SIZE,
    )
    return render(
        request,
        "portal/catalogue.html",
        {
            "nav": "applications",
            "page": page,
            "query": _query(q=search),
            "search": search,
            "may_upload": request.principal.is_privileged,
        },
    )


def _initial_answers(request, template: JobScriptTemplate, questions: list[dict]) -> tuple[dict, str]:
    """The answers the form opens with, and where they came from: a preset, a submission's or job script's
    parameters ("load parameters"), else the user's last answers for this application."""
    if preset_id := request.GET.get("preset"):
        preset = Preset.objects.visible_to(request.principal).filter(application=template, pk=_int(preset_id)).first()
        if preset is not None:
            return services.answers_of(preset.answers, questions), f"preset “{preset.name}”"
    if submission_id := request.GET.get("from-submission"):
        submission = _submission(request, _int(submission_id))
        if submission.job_script is not None:
            answers = services.answers_of(submission.job_script.render_parameters or {}, questions)
            return answers, f"submission #{submission.pk}"
    if job_script_id := request.GET.get("from-job-script"):
        job_script = _job_script(request, _int(job_script_id))
        return services.answers_of(job_script.render_parameters or {}, questions), f"job script #{job_script.pk}"
    answers = services.last_answers(request.principal, template, questions)
    return answers, "your last run" if answers else ""


def _int(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else 0


def _form_page(request, template, form_questions_, run_form, answers, errors=None, *, status=200, loaded_from=""):
    presets = Preset.objects.visible_to(request.principal).filter(application=template)
    return render(
        request,
        "portal/application.html",
        {
            "nav": "applications",
            "application": template,
            "key": template.identifier or str(template.pk),
            "source": form_questions_,
            "fields": question_fields(form_questions_.questions, answers, errors),
            "run_form": run_form,
            "clusters": _clusters(),
            "presets": presets,
            "loaded_from": loaded_from,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@signed_in("job-templates", "read")
def application_form(request, key: str):
    template = _application(request, key)
    try:
        asked = _asked(request, template)
    except DomainError as error:
        _show(request, error)
        return redirect("portal:catalogue")
    clusters = [row.client_id for row in _clusters()]
    if request.method == "GET":
        answers, loaded_from = _initial_answers(request, template, asked.questions)
        name = str(runtime_config(template).get("job_script_name") or template.name)[:255]
        initial = {"name": name, "cluster": clusters[0] if len(clusters) == 1 else ""}
        return _form_page(
            request, template, asked, RunForm(initial=initial, clusters=clusters), answers, loaded_from=loaded_from
        )
    require(request, "job-scripts", "create")
    answers = answers_from_form(asked.questions, request.POST)
    run_form = RunForm(request.POST, clusters=clusters)
    field_errors: dict = {}
    try:
        completed = checked_answers(asked.questions, answers)
    except DomainError as error:
        field_errors = error.fields or {}
        if not field_errors:
            _show(request, error)
    if field_errors or not run_form.is_valid():
        return _form_page(request, template, asked, run_form, answers, field_errors, status=422)
    data = run_form.cleaned_data
    run = services.Run(
        name=data["name"],
        cluster=data["cluster"] or None,
        execution_directory=data["execution_directory"],
        sbatch_params=tuple(data["sbatch_params"]),
        save_only=data["save_only"],
        entrypoint=data["entrypoint"] if data["entrypoint_edited"] else None,
    )
    try:
        with heavy_request(request.principal, what="renders"):
            job_script, submission = services.create_run(
                principal=request.principal, template=template, answers=completed, run=run
            )
    except DomainError as error:
        field_errors = {name.removeprefix("param_dict."): texts for name, texts in (error.fields or {}).items()}
        if not field_errors:
            _show(request, error)
        return _form_page(request, template, asked, run_form, answers, field_errors, status=422)
    if submission is None:
        messages.success(request, f"Saved job script #{job_script.pk}.")
        return redirect("portal:job-script", pk=job_script.pk)
    messages.success(request, f"Submitted job script #{job_script.pk} to {submission.client_id}.")
    return redirect("portal:submission", pk=submission.pk)


@require_POST
@signed_in("job-templates", "read")
def preview(request, key: str):
    """The files the form would make, rendered in the sandbox and stored nowhere (htmx swaps it in), with each
    field's problems placed next to the field."""
    template = _application(request, key)
    context: dict = {"files": None, "error": "", "field_errors": {}}
    try:
        asked = _asked(request, template)
        answers = answers_from_form(asked.questions, request.POST)
        context["names"] = [question["name"] for question in asked.questions]
        completed = checked_answers(asked.questions, answers)
        try:
            sbatch_params = sbatch_lines(request.POST.get("sbatch_params", ""))
        except ValidationError as error:
            sbatch_params, context["error"] = [], "; ".join(error.messages)
        with heavy_request(request.principal, what="renders"):
            rendered = services.preview(template, completed, sbatch_params)
        context["files"] = rendered.files
        context["entrypoint"] = rendered.entrypoint
    except DomainError as error:
        context["field_errors"] = {
            name.removeprefix("param_dict."): texts for name, texts in (error.fields or {}).items()
        }
        if not context["field_errors"]:
            context["error"] = error.text
    context["error_slots"] = [
        (answer_input(name), context["field_errors"].get(name, [])) for name in context.get("names", [])
    ]
    return render(request, "portal/_preview.html", context)


# Presets ------------------------------------------------------------------------------------------------------------


@require_POST
@signed_in("job-templates", "read")
def save_preset(request, key: str):
    template = _application(request, key)
    name = request.POST.get("preset_name", "").strip()
    try:
        asked = _asked(request, template)
        answers = checked_answers(asked.questions, answers_from_form(asked.questions, request.POST))
        preset = services.save_preset(principal=request.principal, template=template, name=name, answers=answers)
    except DomainError as error:
        _show(request, error)
        return redirect(reverse("portal:application", args=[key]))
    messages.success(request, f"Saved the preset “{preset.name}”.")
    return redirect(f"{reverse('portal:application', args=[key])}?preset={preset.pk}")


@require_POST
@signed_in()
def rename_preset(request, pk: int):
    try:
        preset = services.rename_preset(principal=request.principal, preset_id=pk, name=request.POST.get("name", ""))
    except DomainError as error:
        _show(request, error)
        return redirect(_back(request))
    messages.success(request, f"Renamed the preset to “{preset.name}”.")
    return redirect(_back(request))


@require_POST
@signed_in()
def delete_preset(request, pk: int):
    try:
        services.delete_preset(principal=request.principal, preset_id=pk)
    except DomainError as error:
        _show(request, error)
    else:
        messages.success(request, "Deleted the preset.")
    return redirect(_back(request))


def _back(request) -> str:
    """Where a small form returns to: its ``next`` field when it is a page of this site, else the catalogue."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("portal:catalogue")


# Applications uploaded by maintainers --------------------------------------------------------------------------------


@require_POST
@signed_in("job-templates", "create")
def upload_application(request):
    """Create or replace an application from a folder archive, with the checks of the API's folder upload."""
    if not request.principal.is_privileged:
        raise PermissionDenied("Only maintainers and admins upload applications.")
    identifier = request.POST.get("identifier", "").strip()
    archive = request.FILES.get("archive")
    try:
        check_identifier(identifier)
        if archive is None:
            raise Malformed("Choose the application's archive (.tar.gz, .tgz, .tar or .zip).")
        template = JobScriptTemplate.objects.filter(identifier=identifier).first()
        if template is not None:
            check_may_replace(request.principal, template)
        with heavy_request(request.principal, what="application folder uploads"):
            bundle = load_bundle(read_archive(archive.read(), bundle_limits()))
            template, created = upsert_application(
                identifier=identifier,
                template=template,
                bundle=bundle,
                owner_email=request.principal.email or "",
                name=str(bundle.config.get("name") or "")[:255] or None,
                check_change=lambda row: check_may_replace(request.principal, row),
            )
    except DomainError as error:
        _show(request, error)
        return redirect("portal:catalogue")
    messages.success(request, f"{'Created' if created else 'Replaced'} the application {template.identifier}.")
    return redirect("portal:application", key=template.identifier)


# Submissions -------------------------------------------------------------------------------------------------------


@require_GET
@signed_in("job-submissions", "read")
def submission_list(request):
    rows = JobSubmission.objects.visible_to(request.principal).filter(owner_email=request.principal.email)
    facet = request.GET.get("status", "")
    facet = facet if facet in FACETS else ""
    if facet:
        rows = rows.filter(status__in=FACETS[facet])
    search = _search_text(request)
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(client_id__icontains=search))
    sort = request.GET.get("sort", "newest")
    sort = sort if sort in SORTS else "newest"
    rows = rows.order_by(*SORTS[sort]).only(
        "id", "name", "status", "client_id", "slurm_job_id", "slurm_job_state", "created_at", "updated_at"
    )
    page = _page(request, rows, PAGE_SIZE)
    return render(
        request,
        "portal/submissions.html",
        {
            "nav": "submissions",
            "page": page,
            "query": _query(q=search, status=facet, sort=sort),
            "facet": facet,
            "facets": list(FACETS),
            "search": search,
            "sort": sort,
            "sorts": list(SORTS),
        },
    )


@require_POST
@signed_in("job-submissions", "update")
def cancel_many(request):
    ids = [_int(value) for value in request.POST.getlist("ids")[:PAGE_SIZE]]
    rows = JobSubmission.objects.visible_to(request.principal).filter(pk__in=ids)
    cancelled, refused = 0, []
    for row in rows:
        try:
            cancel_submission(submission=row)
            cancelled += 1
        except DomainError as error:
            refused.append(f"#{row.pk}: {error.text}")
    if cancelled:
        messages.success(request, f"Cancelled {cancelled} submission(s).")
    for line in refused:
        messages.error(request, line)
    return redirect(_back(request))


def _job_info(submission: JobSubmission) -> dict:
    """What the agent reported of the Slurm job (``slurm_job_info``: JSON with exit_code, signal, reason...)."""
    text = submission.slurm_job_info or ""
    try:
        info = json.loads(text) if 0 < len(text) <= 65536 else {}
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def _submission_context(submission: JobSubmission) -> dict:
    return {
        "submission": submission,
        "job_info": _job_info(submission),
        "final": submission.status in TERMINAL_STATUSES,
        "may_cancel": submission.status in (JobSubmissionStatus.CREATED, JobSubmissionStatus.SUBMITTED),
        "progress": list(submission.progress.order_by("timestamp", "id")[:200]),
    }


@require_GET
@signed_in("job-submissions", "read")
def submission_detail(request, pk: int):
    submission = _submission(request, pk)
    context = _submission_context(submission)
    job_script = submission.job_script
    context["files"] = _file_texts(job_script) if job_script else []
    context["application"] = job_script.parent_template if job_script else None
    context["nav"] = "submissions"
    context["streams"] = ["stdout", "stderr"]
    return render(request, "portal/submission.html", context)


@require_GET
@signed_in("job-submissions", "read")
def submission_status(request, pk: int):
    """The status panel alone, for the page's polling while the submission is not final."""
    return render(request, "portal/_status.html", _submission_context(_submission(request, pk)))


@require_GET
@signed_in("job-submissions", "read")
def submission_output(request, pk: int, stream: str):
    """The job's output from ``offset`` for the page's panel: the text (escaped, never markup) followed by the
    panel's next poller, which asks for what comes after it, sooner when this answer had text; nothing more once the
    stream is complete. Where it ends and whether it is complete are in headers too. Reading marks the submission
    watched (the agent then ships it every cycle)."""
    submission = _submission(request, pk)
    asked = _int(request.GET.get("offset", "0"))
    try:
        part = output.read(submission=submission, stream=stream, offset=asked)
    except DomainError as error:
        return HttpResponse(error.text, status=400, content_type="text/plain; charset=utf-8")
    output.mark_read(submission=submission)
    content, next_offset, complete = part.content, part.next_offset, part.complete
    if not complete:  # a character cut by the read's end comes whole with the next answer
        content = content[: output.whole_characters(content)]
        next_offset = part.offset + len(content)
    text = content.decode("utf-8", "replace")
    if part.offset > asked:
        text = output.dropped_note(part.offset - asked) + text
    if complete:
        follow = OUTPUT_END
    elif not content and _output_settled(submission):
        follow = OUTPUT_SETTLED
    else:
        follow = format_html(
            '<span class="output-poll" hx-get="{}?offset={}" hx-trigger="load delay:{}ms" hx-swap="outerHTML"></span>',
            request.path,
            next_offset,
            OUTPUT_POLL_TEXT_MS if content else OUTPUT_POLL_IDLE_MS,
        )
    response = HttpResponse(format_html("{}{}", text, follow), content_type="text/html; charset=utf-8")
    response["X-Jobbergate-Next-Offset"] = str(next_offset)
    response["X-Jobbergate-Complete"] = "true" if complete else "false"
    return response


def _output_settled(submission: JobSubmission) -> bool:
    """No more output will come: the submission's job can no longer run, and the row has not changed (its end, or an
    edit since) for OUTPUT_SETTLE_SECONDS. A panel that stopped shows what came later after a reload."""
    if submission.is_active or submission.status not in TERMINAL_STATUSES:
        return False
    return submission.updated_at < timezone.now() - timedelta(seconds=OUTPUT_SETTLE_SECONDS)


@require_GET
@signed_in("job-submissions", "read")
def submission_output_download(request, pk: int, stream: str):
    submission = _submission(request, pk)
    try:
        output.check_stream(stream)
    except DomainError as error:
        return HttpResponse(error.text, status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(output.read_all(submission=submission, stream=stream), content_type="text/plain")
    response["Content-Disposition"] = content_disposition_header(True, f"submission-{submission.pk}.{stream}")
    return response


@require_POST
@signed_in("job-submissions", "update")
def cancel(request, pk: int):
    submission = _submission(request, pk)
    try:
        cancel_submission(submission=submission)
    except DomainError as error:
        _show(request, error)
    else:
        messages.success(request, f"Cancelled submission #{submission.pk}.")
    return redirect("portal:submission", pk=submission.pk)


@require_POST
@signed_in("job-submissions", "create")
def rerun(request, pk: int):
    submission = _submission(request, pk)
    if not request.principal.email:
        raise PermissionDenied("Your account has no e-mail address, which owns what you create.")
    try:
        clone = clone_submission(source=submission, owner_email=request.principal.email)
    except DomainError as error:
        _show(request, error)
        return redirect("portal:submission", pk=submission.pk)
    messages.success(request, f"Submitted the same job script again as #{clone.pk}.")
    return redirect("portal:submission", pk=clone.pk)


# Job scripts -------------------------------------------------------------------------------------------------------


@require_GET
@signed_in("job-scripts", "read")
def job_script_list(request):
    rows = JobScript.objects.visible_to(request.principal).filter(owner_email=request.principal.email)
    search = _search_text(request)
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(description__icontains=search))
    rows = rows.select_related("parent_template").order_by("-created_at", "-id")
    return render(
        request,
        "portal/job_scripts.html",
        {"nav": "job-scripts", "page": _page(request, rows, PAGE_SIZE), "query": _query(q=search), "search": search},
    )


@require_http_methods(["GET", "POST"])
@signed_in("job-scripts", "read")
def job_script_detail(request, pk: int):
    job_script = _job_script(request, pk)
    clusters = [row.client_id for row in _clusters()]
    form = RunForm(
        request.POST or None,
        initial={"name": job_script.name, "cluster": clusters[0] if len(clusters) == 1 else ""},
        clusters=clusters,
    )
    if request.method == "POST":
        require(request, "job-submissions", "create")
    if request.method == "POST" and form.is_valid():
        run = services.Run(
            name=form.cleaned_data["name"],
            cluster=form.cleaned_data["cluster"] or None,
            execution_directory=form.cleaned_data["execution_directory"],
        )
        try:
            submission = services.submit(principal=request.principal, job_script=job_script, run=run)
        except DomainError as error:
            _show(request, error)
        else:
            messages.success(request, f"Submitted job script #{job_script.pk} to {submission.client_id}.")
            return redirect("portal:submission", pk=submission.pk)
    submissions = job_script.submissions.order_by("-created_at")[:20]
    return render(
        request,
        "portal/job_script.html",
        {
            "nav": "job-scripts",
            "job_script": job_script,
            "files": _file_texts(job_script),
            "form": form,
            "submissions": submissions,
            "clusters": _clusters(),
        },
        status=422 if request.method == "POST" else 200,
    )


@require_GET
@signed_in("job-scripts", "read")
def job_script_file(request, pk: int, name: str):
    job_script = _job_script(request, pk)
    row = None if "\x00" in name else job_script.files.filter(filename=name[:255]).first()
    if row is None:
        raise Http404("There is no such file.")
    return file_download(row)


def _file_texts(job_script: JobScript) -> list[tuple[str, str, str]]:
    """(name, role, text) of a job script's files, for the page (shown escaped, as text)."""
    rows = []
    for row in job_script.files.all():
        try:
            text = row.read_text()
        except (OSError, UnicodeDecodeError) as error:
            text = f"(cannot read the stored contents: {error.__class__.__name__})"
        rows.append((row.filename, row.file_type, text))
    return rows
