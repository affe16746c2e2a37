from jobbergate_cli.application_base import JobbergateApplicationBase
from jobbergate_cli.jobberappslib import BooleanList, Const, Directory, Integer


class JobbergateApplication(JobbergateApplicationBase):
    def mainflow(self, data=None):
        data["nextworkflow"] = "compression"
        return [
            Directory("input_dir", message="Folder with the raw files?", default="/shared/raw"),
            Integer("chunks", message="Split the work into how many array tasks?", minval=1, maxval=64, default=4),
            Const("tool_version", default="2.3"),
        ]

    def compression(self, data=None):
        return [
            BooleanList(
                "compress",
                message="Compress the results?",
                default=True,
                whentrue=[Integer("level", message="Compression level?", minval=1, maxval=9, default=6)],
            ),
        ]
