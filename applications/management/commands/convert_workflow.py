"""``manage.py convert_workflow FOLDER [--write]``: typed questions from a simple jobbergate.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from applications.bundle import CONFIG_FILE, WORKFLOW_FILE, BundleError, parse_config
from applications.convert import convert_workflow
from applications.questions import QuestionsError, check_questions
from applications.services import bundle_limits


class Command(BaseCommand):
    help = (
        "Read the questions of an application's jobbergate.py (without running it) and print them as typed "
        "questions: for jobbergate.yaml; say where it cannot convert. --write adds them to jobbergate.yaml. "
        "Example: manage.py convert_workflow examples/legacy-simulation"
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--write", action="store_true", help="Append the questions to jobbergate.yaml.")

    def handle(self, *args, folder, write, **options):
        root = Path(folder)
        workflow = root / WORKFLOW_FILE
        if not workflow.is_file():
            raise CommandError(f"{workflow} does not exist")
        conversion = convert_workflow(workflow.read_text())
        try:
            check_questions(conversion.questions)
        except QuestionsError as error:
            conversion.problems.extend(error.problems)
        text = yaml.safe_dump({"questions": conversion.questions}, sort_keys=False, allow_unicode=True)
        self.stdout.write(text)
        for problem in conversion.problems:
            self.stderr.write(f"cannot convert: {problem}")
        self.stderr.write(
            f"{len(conversion.questions)} question(s) converted, {len(conversion.problems)} place(s) not converted."
        )
        if write:
            config_path = root / CONFIG_FILE
            try:
                config = parse_config(config_path.read_bytes(), max_bytes=bundle_limits().max_config_bytes)
            except (OSError, BundleError) as error:
                raise CommandError(f"{config_path}: {error}") from None
            if config.get("questions"):
                raise CommandError(f"{config_path} already declares questions; not overwritten")
            with config_path.open("a") as handle:
                handle.write("\n" + text)
            self.stderr.write(f"questions added to {config_path}")
