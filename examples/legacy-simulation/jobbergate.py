from jobbergate_cli.subapps.applications.application_base import JobbergateApplicationBase
from jobbergate_cli.subapps.applications.questions import BooleanList, Checkbox, Integer, List, Text


class JobbergateApplication(JobbergateApplicationBase):
    def mainflow(self, data):
        data["nextworkflow"] = "outputs"
        return [
            List("partition", message="Partition?", choices=["debug", "compute"], default="compute"),
            Integer("steps", message="Time steps?", minval=1, maxval=100000, default=100),
            List("solver", message="Linear solver?", choices=["cg", "gmres", "direct"], default="cg"),
        ]

    def outputs(self, data):
        return [
            Checkbox(
                "outputs",
                message="Fields to write?",
                choices=["pressure", "velocity", "temperature"],
                default=["pressure"],
            ),
            BooleanList(
                "restart",
                message="Restart from a previous run?",
                default=False,
                whentrue=[Text("restart_file", message="Restart file?", default="restart.h5")],
            ),
        ]
