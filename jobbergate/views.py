"""Project-level endpoints: the health probe."""

from django.http import HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request):
    """Answers 204 with no body and no authentication: for load balancers and the agent."""
    return HttpResponse(status=204)
