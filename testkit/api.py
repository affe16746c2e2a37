"""The generic resource API test case: every resource inherits it and declares only what differs.

A subclass sets ``url``, ``model``, ``private`` (rows readable only by owner, maintainer and admin) and
``update_data``, and implements ``make(owner_email)`` and ``create_payload(persona)``. It inherits the CRUD,
permission, list-convention and bad-input tests for anonymous, other user, owner, maintainer and admin.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

LONG = "x" * 256


@pytest.mark.django_db
class ResourceAPITestCase:
    url: str
    model: type
    private: bool
    update_data: dict = {"name": "renamed", "description": "changed"}

    def make(self, owner_email: str):
        raise NotImplementedError

    def create_payload(self, persona) -> dict:
        raise NotImplementedError

    def detail(self, row) -> str:
        return f"{self.url}/{row.pk}"

    # Anonymous -------------------------------------------------------------------------------------------------

    def test_it_refuses_anonymous_callers_with_401(self, anonymous, alice):
        row = self.make(alice.email)
        for method, url in [
            ("get", self.url),
            ("post", self.url),
            ("get", self.detail(row)),
            ("put", self.detail(row)),
            ("delete", self.detail(row)),
            ("post", f"{self.url}/clone/{row.pk}"),
        ]:
            response = getattr(anonymous, method)(url, {}, format="json")
            assert response.status_code == 401, (method, url)
            assert response["WWW-Authenticate"].startswith("Bearer")
            assert response.json()["detail"]
        assert self.model.objects.count() == 1

    def test_it_refuses_a_garbage_token_with_401(self, anonymous):
        anonymous.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
        response = anonymous.get(self.url)
        assert response.status_code == 401
        assert "Malformed token" in response.json()["detail"]

    # Owner -----------------------------------------------------------------------------------------------------

    def test_the_owner_creates_a_row_and_owns_it(self, alice):
        response = alice.client.post(self.url, self.create_payload(alice), format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["owner_email"] == alice.email
        assert body["is_archived"] is False
        assert body["cloned_from_id"] is None
        assert self.model.objects.get(pk=body["id"]).owner_email == alice.email

    def test_the_owner_reads_lists_updates_and_deletes_a_row(self, alice):
        row = self.make(alice.email)
        assert alice.client.get(self.detail(row)).json()["id"] == row.pk
        listed = alice.client.get(self.url).json()
        assert [item["id"] for item in listed["items"]] == [row.pk]
        response = alice.client.put(self.detail(row), self.update_data, format="json")
        assert response.status_code == 200, response.content
        for key, value in self.update_data.items():
            assert response.json()[key] == value
        assert alice.client.delete(self.detail(row)).status_code == 204
        assert alice.client.get(self.detail(row)).status_code == 404

    def test_put_changes_only_the_fields_it_is_given(self, alice):
        row = self.make(alice.email)
        response = alice.client.put(self.detail(row), {"description": "only this"}, format="json")
        assert response.status_code == 200
        row.refresh_from_db()
        assert row.description == "only this"
        assert response.json()["name"] == row.name

    def test_the_owner_archives_and_the_list_hides_it_unless_asked(self, alice):
        row = self.make(alice.email)
        assert alice.client.put(self.detail(row), {"is_archived": True}, format="json").status_code == 200
        assert alice.client.get(self.url).json()["total"] == 0
        assert alice.client.get(self.url, {"include_archived": "true"}).json()["total"] == 1

    def test_clone_copies_the_row_and_the_caller_owns_the_copy(self, alice, carol):
        row = self.make(alice.email)
        response = carol.client.post(f"{self.url}/clone/{row.pk}", {"name": "copy"}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["cloned_from_id"] == row.pk
        assert body["owner_email"] == carol.email
        assert body["name"] == "copy"
        assert body["id"] != row.pk

    # Other users -----------------------------------------------------------------------------------------------

    def test_another_user_cannot_change_or_delete_a_row(self, alice, bob):
        row = self.make(alice.email)
        expected = 404 if self.private else 403
        assert bob.client.put(self.detail(row), self.update_data, format="json").status_code == expected
        assert bob.client.delete(self.detail(row)).status_code == expected
        row.refresh_from_db()
        assert row.name != self.update_data["name"]

    def test_another_user_sees_the_row_only_when_the_resource_is_shared(self, alice, bob):
        row = self.make(alice.email)
        listed = bob.client.get(self.url).json()
        if self.private:
            assert listed["total"] == 0
            assert bob.client.get(self.detail(row)).status_code == 404
        else:
            assert listed["total"] == 1
            assert bob.client.get(self.detail(row)).status_code == 200

    def test_a_reader_cannot_create(self, reader):
        before = self.model.objects.count()
        response = reader.client.post(self.url, {"name": "nope"}, format="json")
        assert response.status_code == 403
        assert "permission" in response.json()["detail"]
        assert self.model.objects.count() == before

    @pytest.mark.parametrize("persona_name", ["carol", "dave"])
    def test_admin_and_maintainer_read_and_change_any_row(self, alice, persona_name, request):
        persona = request.getfixturevalue(persona_name)
        row = self.make(alice.email)
        assert persona.client.get(self.url).json()["total"] == 1
        assert persona.client.get(self.detail(row)).status_code == 200
        assert persona.client.put(self.detail(row), self.update_data, format="json").status_code == 200
        assert persona.client.delete(self.detail(row)).status_code == 204

    # List conventions ------------------------------------------------------------------------------------------

    def test_the_list_answers_with_the_page_envelope(self, alice):
        rows = [self.make(alice.email) for _ in range(3)]
        body = alice.client.get(self.url, {"size": 2, "page": 2}).json()
        assert body["total"] == 3
        assert body["page"] == 2
        assert body["size"] == 2
        assert body["pages"] == 2
        assert [item["id"] for item in body["items"]] == [rows[2].pk]
        assert alice.client.get(self.url, {"page": 9}).json()["items"] == []

    def test_search_ors_its_terms_over_the_searchable_fields(self, alice):
        first, second, third = (self.make(alice.email) for _ in range(3))
        self.model.objects.filter(pk=first.pk).update(name="Alpha run")
        self.model.objects.filter(pk=second.pk).update(description="the BETA description")
        body = alice.client.get(self.url, {"search": "alpha beta"}).json()
        assert sorted(item["id"] for item in body["items"]) == [first.pk, second.pk]

    def test_sort_field_and_direction(self, alice):
        rows = [self.make(alice.email) for _ in range(3)]
        for row, name in zip(rows, ["b", "c", "a"], strict=True):
            self.model.objects.filter(pk=row.pk).update(name=name)
        body = alice.client.get(self.url, {"sort_field": "name", "sort_ascending": "false"}).json()
        assert [item["name"] for item in body["items"]] == ["c", "b", "a"]

    def test_user_only_keeps_the_callers_rows(self, alice, carol):
        mine = self.make(carol.email)
        self.make(alice.email)
        body = carol.client.get(self.url, {"user_only": "true"}).json()
        assert [item["id"] for item in body["items"]] == [mine.pk]

    def test_a_list_page_costs_a_constant_number_of_queries(self, alice):
        self.make(alice.email)
        with CaptureQueriesContext(connection) as few:
            assert alice.client.get(self.url).status_code == 200
        for _ in range(6):
            self.make(alice.email)
        with CaptureQueriesContext(connection) as many:
            assert alice.client.get(self.url).json()["total"] == 7
        assert len(many) == len(few)
        assert len(many) < 5

    # Bad input -------------------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "params, fragment",
        [
            ({"sort_field": "nope"}, "sort_field"),
            ({"page": 0}, "page"),
            ({"size": 101}, "size"),
            ({"size": "ten"}, "size"),
            ({"include_archived": "maybe"}, "include_archived"),
        ],
    )
    def test_bad_list_parameters_get_400(self, alice, params, fragment):
        response = alice.client.get(self.url, params)
        assert response.status_code == 400
        assert fragment in response.json()["detail"]

    def test_malformed_json_gets_400_and_writes_nothing(self, alice):
        before = self.model.objects.count()
        response = alice.client.post(self.url, data="{not json", content_type="application/json")
        assert response.status_code == 400
        assert "JSON" in response.json()["detail"]
        assert self.model.objects.count() == before

    @pytest.mark.parametrize(
        "changes",
        [{"name": LONG}, {"description": LONG}, {"name": {"an": "object"}}, {"name": ""}, {"is_archived": "perhaps"}],
    )
    def test_invalid_fields_get_422_and_write_nothing(self, alice, changes):
        before = self.model.objects.count()
        response = alice.client.post(self.url, {**self.create_payload(alice), **changes}, format="json")
        assert response.status_code == 422, response.content
        body = response.json()
        assert next(iter(changes)) in body["detail"]
        assert self.model.objects.count() == before

    def test_an_unknown_id_gets_404(self, alice):
        assert alice.client.get(f"{self.url}/999999").status_code == 404

    def test_null_for_an_optional_field_means_not_given(self, alice):
        """Upstream clients send every unset optional field as null."""
        payload = {**self.create_payload(alice), "description": None, "is_archived": None}
        response = alice.client.post(self.url, payload, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["description"] == ""
        row_id = response.json()["id"]
        response = alice.client.put(f"{self.url}/{row_id}", {"name": None, "description": "kept"}, format="json")
        assert response.status_code == 200
        assert response.json()["name"] == payload["name"]

    @pytest.mark.parametrize("suffix", ["/99999999999999999999999", "/clone/99999999999999999999999"])
    def test_an_id_beyond_64_bits_is_a_404(self, alice, suffix):
        method = alice.client.post if "clone" in suffix else alice.client.get
        assert method(f"{self.url}{suffix}", {}, format="json").status_code == 404
