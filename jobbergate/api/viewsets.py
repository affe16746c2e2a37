"""The base viewset of every resource: visibility, list conventions, partial PUT, clone, and file endpoints.

A resource viewset is a declaration (model, serializers, search and sort fields, permission resource, the
service that clones a row); the behaviour lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.db import connections, models, router
from django.http import Http404
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from jobbergate.api.exceptions import BadRequest
from jobbergate.api.filters import ListConventionsFilter, StrictFilterBackend, asks_own_live_rows, list_order
from jobbergate.api.pagination import PageSizePagination
from jobbergate.api.query import query_bool
from jobbergate.api.renderers import WrittenJSON
from jobbergate.database import writes_json
from jobbergate.models import visible_row
from jobbergate.prepared import PreparedQuery, prefetch_children
from jobbergate.principal import Principal
from jobbergate.services import check_size
from jobbergate.validation import check_filename

BASE_SORT_FIELDS = {
    "id": "id",
    "name": "name",
    "owner_email": "owner_email",
    "created_at": "created_at",
    "updated_at": "updated_at",
}


class ResourceViewSet(viewsets.ModelViewSet):
    """CRUD + list conventions + clone for one resource. Subclasses declare; they rarely override."""

    model = None
    permission_resource = ""
    operation_prefix = ""  # OpenAPI operation ids are "<prefix>_<action>" (jobbergate.api.schema.ResourceSchema)
    search_fields: tuple[str, ...] = ("name", "description", "owner_email")
    sort_fields: dict[str, str] = BASE_SORT_FIELDS
    list_serializer_class = None
    clone_serializer_class = None
    select_related: tuple[str, ...] = ()  # the rows every answer shows beside each one (list and detail)
    detail_prefetch_related: tuple[str, ...] = ()
    list_deferred: tuple[str, ...] = ()  # columns a list answer does not show (large JSON): not read for a list
    filter_backends = [ListConventionsFilter, StrictFilterBackend]
    pagination_class = PageSizePagination
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"

    @property
    def principal(self) -> Principal:
        return self.request.auth

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return self.model.objects.none()
        queryset = self.model.objects.visible_to(self.principal).select_related(*self.select_related)
        if self.action == "list":
            return queryset.defer(*self.list_deferred)
        return queryset.prefetch_related(*self.detail_prefetch_related)

    def get_object(self):
        """The row the URL names, if the caller may read it (``detail_row``); 404 otherwise."""
        instance = self.detail_row(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        if instance is None:
            raise Http404
        self.check_object_permissions(self.request, instance)
        return instance

    def detail_row(self, pk):
        """Row ``pk`` as ``get_queryset()`` gives it for a detail answer (visible to the caller, with the rows shown
        beside it), or None; read with prepared queries (``jobbergate.models.visible_row``,
        ``jobbergate.prepared.prefetch_children``): every detail request and every change of a row reads it."""
        instance = visible_row(self.model, self.principal, pk, related=self.select_related)
        if instance is not None:
            prefetch_children(instance, *self.detail_prefetch_related)
        return instance

    def list(self, request, *args, **kwargs):
        """A page of rows. When every field of the list answer is a plain column, the page is read without model
        instances (the most of a list's time, bench/run-profile): as the JSON text of each row, written by PostgreSQL
        (``row_json``), or as the dicts of ``values()`` shown by ``represent_values`` (``value_columns``)."""
        shape = _PageShape.of(self.get_serializer_class(), self.model)
        if shape is None:
            return super().list(request, *args, **kwargs)
        page = self.own_live_page(request, shape)
        if page is None:
            queryset = self.filter_queryset(self.get_queryset())
            total = self.known_total(request)
            page = self.paginator.paginate_queryset(queryset, request, self, read=shape.read, total=total)
        return self.get_paginated_response(shape.show(page))

    def own_live_page(self, request, shape: _PageShape) -> list | None:
        """The page of the upstream CLI's list (``asks_own_live_rows``: the caller's own rows that are not archived,
        in an order of the list's choice, nothing else), when the resource keeps its total (``known_total``): read
        with a prepared query (``jobbergate.prepared``) built by the same rules (``visible_to`` and the list
        conventions), so that neither the queryset nor its SQL is made again for each request. None for any other
        list. No filter backend but the conventions has anything to do for this list: it has no other parameter."""
        params = request.query_params
        if not self.principal.email or not asks_own_live_rows(params):
            return None
        list_order(params, self)  # a 400 for a bad sort_field, as the filter would answer
        total = self.known_total(request)
        if total is None:
            return None
        sort = (params.get("sort_field") or "", query_bool(params, "sort_ascending", True))
        query = _own_live_page_query(type(self), frozenset(self.principal.permissions), sort, shape)
        return self.paginator.paginate_prepared(
            request, total, lambda offset, limit: query.page(offset, limit, email=self.principal.email)
        )

    def known_total(self, request) -> int | None:
        """The list's exact total when the resource keeps it (``LiveJobScriptCount``), so that its rows need not be
        counted; None otherwise. Called after the filters, which answer a malformed parameter with a 400."""
        return None

    def get_serializer_class(self):
        if self.action == "list" and self.list_serializer_class is not None:
            return self.list_serializer_class
        if self.action == "clone" and self.clone_serializer_class is not None:
            return self.clone_serializer_class
        return self.serializer_class

    def require_email(self) -> str:
        """Rows are owned by an e-mail: a token without one (an agent) cannot create them."""
        if not self.principal.email:
            raise PermissionDenied("Creating a resource needs a token that carries an 'email' claim.")
        return self.principal.email

    def perform_create(self, serializer):
        serializer.save(owner_email=self.require_email())

    def update(self, request, *args, **kwargs):
        # The contract's PUT changes only the fields it is given.
        kwargs["partial"] = True
        return super().update(request, *args, **kwargs)

    def detail_response(self, instance, status_code=status.HTTP_200_OK, *, fresh: bool = False) -> Response:
        """The detail answer for ``instance``: read again as a GET would, unless it is ``fresh`` (just written by a
        service in this request, with the rows its answer shows beside it), when it is shown as it is."""
        if not fresh:
            instance = self.detail_row(instance.pk)
            if instance is None:  # deleted meanwhile by another request
                raise Http404
        return Response(self.serializer_class(instance, context=self.get_serializer_context()).data, status=status_code)

    def clone(self, request, *args, **kwargs):
        source = self.get_object()
        serializer = self.get_serializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        clone = self.clone_row(source=source, owner_email=self.require_email(), **serializer.validated_data)
        return self.detail_response(clone, status.HTTP_201_CREATED)

    def clone_row(self, *, source, owner_email: str, **overrides):
        raise NotImplementedError


@dataclass(frozen=True)
class _PageShape:
    """How a list's page is read and shown without model instances: each row's JSON text as PostgreSQL writes it
    (``FastRepresentationMixin.row_json``), else the dicts of ``values()`` shown by ``represent_values``."""

    serializer_class: type
    in_json: bool

    @staticmethod
    def of(serializer_class, model) -> _PageShape | None:
        """The shape for a list of ``model`` shown by ``serializer_class``; None when a field needs the instance."""
        return _page_shape(serializer_class, writes_json(connections[router.db_for_read(model)]))

    def read(self, queryset: models.QuerySet) -> models.QuerySet:
        """``queryset``'s rows as this shape reads them (a ``values()`` queryset)."""
        serializer = self.serializer_class()
        if self.in_json:
            return queryset.annotate(wire_json=serializer.row_json()).values("wire_json")
        return queryset.values(*serializer.value_columns())

    def show(self, rows: list[dict]) -> list:
        """The answer's items for the rows ``read`` gave."""
        if self.in_json:
            return [WrittenJSON(row["wire_json"]) for row in rows]
        serializer = self.serializer_class()
        return [serializer.represent_values(row) for row in rows]


@lru_cache(maxsize=256)
def _page_shape(serializer_class, database_writes_json: bool) -> _PageShape | None:
    serializer = serializer_class()
    if not hasattr(serializer, "value_columns") or serializer.value_columns() is None:
        return None
    return _PageShape(serializer_class, database_writes_json and serializer.row_json() is not None)


@lru_cache(maxsize=256)
def _own_live_page_query(view_class, permissions: frozenset[str], sort: tuple[str, bool], shape: _PageShape):
    """The prepared rows of ``ResourceViewSet.own_live_page`` for one resource, kind of caller, order (a sort field
    of the resource's, checked before, and the direction) and shape of page; the caller's e-mail is its value."""
    sort_field, ascending = sort
    params = {"user_only": "true", "sort_field": sort_field, "sort_ascending": "true" if ascending else "false"}

    def build(email):
        caller = Principal(email=email, permissions=permissions)
        queryset = view_class.model.objects.visible_to(caller)
        return shape.read(ListConventionsFilter.apply(queryset, params, caller, view_class))

    return PreparedQuery(build, email=models.CharField())


def find_file(manager, filename: str, *, check=check_filename):
    check(filename)
    row = manager.filter(filename=filename).first()
    if row is None:
        raise NotFound(f"There is no file named {filename!r}.")
    return row


def upload_from_request(request) -> dict:
    """The arguments of a typed file upload: bytes of ``upload_file`` (optional for a pure rename), the name to
    store under (query ``filename``, else the upload's name) and ``previous_filename`` for a rename."""
    previous = request.query_params.get("previous_filename") or None
    content, upload_name = read_upload(request, required=previous is None)
    filename = request.query_params.get("filename") or upload_name or ""
    return {"content": content, "filename": filename, "previous_filename": previous}


def read_upload(request, *, required: bool) -> tuple[bytes | None, str | None]:
    """The ``upload_file`` of a multipart request: its bytes and its client-side name."""
    upload = request.FILES.get("upload_file")
    if upload is None:
        if required:
            raise BadRequest("The multipart field 'upload_file' is required.")
        return None, None
    check_size(upload.name, upload.size)  # before reading it
    return upload.read(), upload.name
