"""What a job script tells the apps above it (submissions), which it must not import: the layers point one way."""

from django.dispatch import Signal

# Sent by jobscripts.services.delete_job_script inside its transaction, before the job script and its files go;
# keyword argument ``job_script``. submissions rejects the job script's waiting submissions on it.
job_script_deleting = Signal()
