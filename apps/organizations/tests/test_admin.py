"""Platform admin console (``/admin/`` on the public host): access, the
organization list, suspend/resume, forbidden operations, the user admin.

Requests go through the real middleware stack with Django's test client on the
public host ``localhost``; the session tenants ``acme`` and ``globex`` exist,
and each test's writes roll back. Staff sessions are verified with a second
factor (``otp_force_login``), as the console requires; the login itself is
tested in apps/iam/tests/test_admin_two_factor.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.common.testing import otp_force_login
from apps.iam.tests.factories import UserFactory
from apps.organizations.constants import MembershipStatus, OrganizationStatus, Role
from apps.organizations.models import Domain, Membership, Organization
from apps.organizations.signals import membership_changed
from tenants.models import TemplateSnapshot
from tenants.provisioning import set_tenant_status, template_schema_name
from tenants.testing import TenantAPIClient

pytestmark = pytest.mark.django_db

ORG_CHANGELIST = reverse(
    "admin:organizations_organization_changelist", urlconf="config.urls_public"
)
_seq = itertools.count()


def admin_url(name: str, *args: Any) -> str:
    return reverse(f"admin:{name}", args=args, urlconf="config.urls_public")


def public_browser() -> Client:
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def staff() -> Any:
    return get_user_model().objects.create_superuser("root@novatime.test", "admin-pass-123")


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = public_browser()
    otp_force_login(client, staff)
    return client


def make_org(slug: str, *, members: int = 0, status: str = OrganizationStatus.ACTIVE) -> Any:
    """A customer row with a primary domain and ``members`` active members.

    No schema is built: the admin only reads the public tables, and rows are
    far cheaper than schemas.
    """
    org = Organization.objects.create(
        schema_name=f"t_admintest_{next(_seq)}", slug=slug, name=slug.title(), status=status
    )
    Domain.objects.create(domain=f"{slug}.localhost", tenant=org, is_primary=True)
    for _ in range(members):
        Membership.objects.create(user=UserFactory(), organization=org, role=Role.MEMBER)
    return org


def slugs_listed(response: Any) -> list[str | None]:
    return [org.slug for org in response.context["cl"].result_list]


def messages_shown(client: Client, response: Any) -> list[tuple[str, str]]:
    """Follow an action's redirect and return the messages the page shows
    (which also consumes them, so the next action starts clean)."""
    assert response.status_code == 302
    page = client.get(response["Location"])
    return [(m.level_tag, str(m)) for m in page.context["messages"]]


def run_action(client: Client, action: str, *orgs: Any, query: str = "") -> Any:
    """Run a changelist action on ``orgs``; ``query`` is the list's filter
    (an action only sees rows the filtered list shows)."""
    return client.post(
        ORG_CHANGELIST + query,
        {"action": action, "_selected_action": [str(o.pk) for o in orgs]},
    )


def change_form_data(response: Any) -> dict[str, Any]:
    """The POST data of an admin change page as rendered (form + inline formsets),
    so a test only states the fields it changes."""

    def values(form: Any) -> dict[str, Any]:
        data = {}
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value
        return data

    data = values(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(values(formset.management_form))
        for form in formset.forms:
            data.update(values(form))
    return data


# --- access --------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_the_login_page():
    response = public_browser().get("/admin/organizations/organization/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/organizations/organization/"


def test_signed_in_non_staff_user_is_sent_to_the_login_page_and_changes_nothing(tenant):
    client = public_browser()
    client.force_login(UserFactory(is_staff=False))

    listing = client.get(ORG_CHANGELIST)
    action = run_action(client, "suspend_organizations", tenant)

    assert listing.status_code == 302
    assert listing["Location"] == f"/admin/login/?next={ORG_CHANGELIST}"
    assert action.status_code == 302
    assert action["Location"] == f"/admin/login/?next={ORG_CHANGELIST}"
    tenant.refresh_from_db()
    assert tenant.status == OrganizationStatus.ACTIVE
    assert LogEntry.objects.count() == 0


def test_staff_without_model_permissions_gets_403_and_changes_nothing(tenant):
    client = public_browser()
    otp_force_login(client, UserFactory(is_staff=True))

    listing = client.get(ORG_CHANGELIST)
    action = run_action(client, "suspend_organizations", tenant)

    assert listing.status_code == 403
    assert action.status_code == 403
    tenant.refresh_from_db()
    assert tenant.status == OrganizationStatus.ACTIVE


def test_the_admin_does_not_exist_on_an_organization_host(staff, tenant):
    client = Client(HTTP_HOST="acme.localhost")
    otp_force_login(client, staff)

    response = client.get("/admin/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such endpoint."}


# --- organization list ---------------------------------------------------------


def test_changelist_shows_customers_only_by_default(staff_client):
    response = staff_client.get(ORG_CHANGELIST)

    assert response.status_code == 200
    assert slugs_listed(response) == ["acme", "globex"]
    assert template_schema_name() not in response.content.decode()


def test_kind_filter_shows_the_template_row_on_request(staff_client):
    internal = staff_client.get(ORG_CHANGELIST, {"kind": "internal"})
    everything = staff_client.get(ORG_CHANGELIST, {"kind": "all"})

    assert [o.schema_name for o in internal.context["cl"].result_list] == [template_schema_name()]
    assert sorted(o.schema_name for o in everything.context["cl"].result_list) == sorted(
        [
            template_schema_name(),
            *Organization.objects.customers().values_list("schema_name", flat=True),
        ]
    )
    assert len(everything.context["cl"].result_list) == 3


@pytest.mark.parametrize(
    ("term", "expected"),
    [("globex", ["globex"]), ("GLOB", ["globex"]), ("acme.localhost", ["acme"]), ("zzz", [])],
)
def test_search_matches_slug_name_and_domain(staff_client, term, expected):
    response = staff_client.get(ORG_CHANGELIST, {"q": term})

    assert response.status_code == 200
    assert slugs_listed(response) == expected


def test_search_by_schema_name(staff_client, tenant):
    response = staff_client.get(ORG_CHANGELIST, {"q": tenant.schema_name})

    assert slugs_listed(response) == ["acme"]


def test_member_count_and_primary_domain_columns(staff_client, tenant):
    Membership.objects.create(user=UserFactory(), organization=tenant, role=Role.OWNER)
    Membership.objects.create(user=UserFactory(), organization=tenant, role=Role.MEMBER)
    Membership.objects.create(
        user=UserFactory(), organization=tenant, status=MembershipStatus.DEACTIVATED
    )

    response = staff_client.get(ORG_CHANGELIST)

    rows = {o.slug: (o.member_count, o.primary_domain) for o in response.context["cl"].result_list}
    assert rows == {"acme": (2, "acme.localhost"), "globex": (0, "globex.localhost")}
    html = response.content.decode()
    assert '<td class="field-member_count">2</td>' in html
    assert '<td class="field-primary_domain">acme.localhost</td>' in html


def test_member_count_survives_a_search_that_joins_domains(staff_client, tenant):
    Domain.objects.create(domain="acme-alias.localhost", tenant=tenant, is_primary=False)
    Membership.objects.create(user=UserFactory(), organization=tenant)

    response = staff_client.get(ORG_CHANGELIST, {"q": "localhost"})

    rows = {o.slug: o.member_count for o in response.context["cl"].result_list}
    assert rows == {"acme": 1, "globex": 0}


def test_changelist_query_count_does_not_grow_with_rows(staff_client):
    staff_client.get(ORG_CHANGELIST)  # warm-up: session, content types
    with CaptureQueriesContext(connection) as two_orgs:
        staff_client.get(ORG_CHANGELIST)
    for i in range(6):
        make_org(f"bulk-{i}", members=i)

    with CaptureQueriesContext(connection) as eight_orgs:
        response = staff_client.get(ORG_CHANGELIST)

    assert len(response.context["cl"].result_list) == 8
    assert {o.slug: o.member_count for o in response.context["cl"].result_list} == {
        "acme": 0,
        "globex": 0,
        **{f"bulk-{i}": i for i in range(6)},
    }
    assert len(eight_orgs) == len(two_orgs)


def test_changelist_with_eight_organizations_stays_within_its_query_budget(
    staff_client, django_assert_max_num_queries
):
    for i in range(6):
        make_org(f"bulk-{i}", members=2)
    staff_client.get(ORG_CHANGELIST)  # warm-up: session, content types

    # search_path, session, user, the session's OTP device, COUNT(*), one
    # SELECT with both subqueries
    with django_assert_max_num_queries(6):
        response = staff_client.get(ORG_CHANGELIST)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 8


# --- suspend / resume ----------------------------------------------------------


def test_suspend_action_makes_the_host_read_only_at_once(staff_client, tenant):
    api = TenantAPIClient(tenant)
    assert api.get("/api/v1/meta/").json()["organization"]["status"] == "active"  # cached now
    assert api.post("/api/v1/meta/").status_code == 405  # a write passes the middleware

    response = run_action(staff_client, "suspend_organizations", tenant)

    assert response.status_code == 302
    assert messages_shown(staff_client, response) == [
        ("success", "Suspended 1 organization: acme (suspended).")
    ]
    tenant.refresh_from_db()
    assert tenant.status == OrganizationStatus.SUSPENDED
    blocked = api.post("/api/v1/meta/")
    assert blocked.status_code == 402
    assert blocked.json()["code"] == "organization_inactive"
    assert api.get("/api/v1/meta/").json()["organization"]["status"] == "suspended"
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.change_message) == (
        str(tenant.pk),
        "Suspended via admin action.",
    )


def test_resume_action_reopens_writes(staff_client, tenant):
    set_tenant_status(
        tenant, OrganizationStatus.SUSPENDED, status_before_suspension=OrganizationStatus.ACTIVE
    )
    api = TenantAPIClient(tenant)
    assert api.post("/api/v1/meta/").status_code == 402  # cached as suspended

    response = run_action(staff_client, "resume_organizations", tenant)

    assert response.status_code == 302
    assert messages_shown(staff_client, response) == [
        ("success", "Resumed 1 organization: acme (active).")
    ]
    tenant.refresh_from_db()
    assert tenant.status == OrganizationStatus.ACTIVE
    assert api.post("/api/v1/meta/").status_code == 405


def test_actions_skip_rows_whose_status_does_not_allow_the_change(
    staff_client, tenant, other_tenant
):
    set_tenant_status(other_tenant, OrganizationStatus.CANCELLED)
    template = Organization.objects.get(schema_name=template_schema_name())

    suspend = messages_shown(
        staff_client,
        run_action(
            staff_client, "suspend_organizations", tenant, other_tenant, template, query="?kind=all"
        ),
    )
    resume = messages_shown(
        staff_client,
        run_action(staff_client, "resume_organizations", other_tenant, template, query="?kind=all"),
    )

    assert suspend == [
        ("success", "Suspended 1 organization: acme (suspended)."),
        (
            "warning",
            "Not suspended: globex: not_suspendable (The organization is cancelled: only "
            "trialing, active or past_due organizations can be suspended.); "
            f"{template_schema_name()}: not_suspendable (The organization is template: only "
            "trialing, active or past_due organizations can be suspended.)",
        ),
    ]
    assert resume == [
        (
            "warning",
            "Not resumed: globex: not_suspended (The organization is not suspended (it is "
            f"cancelled).); {template_schema_name()}: not_suspended (The organization is not "
            "suspended (it is template).)",
        ),
    ]
    statuses = dict(Organization.objects.values_list("schema_name", "status"))
    assert statuses == {
        tenant.schema_name: "suspended",
        other_tenant.schema_name: "cancelled",
        template_schema_name(): "template",
    }


def test_actions_ignore_rows_hidden_by_the_default_kind_filter(staff_client):
    template = Organization.objects.get(schema_name=template_schema_name())

    response = run_action(staff_client, "suspend_organizations", template)

    assert response.status_code == 302
    assert messages_shown(staff_client, response) == [("warning", "No organization was changed.")]
    template.refresh_from_db()
    assert template.status == "template"


def test_suspending_several_organizations_reports_them_all(staff_client, tenant, other_tenant):
    response = run_action(staff_client, "suspend_organizations", other_tenant, tenant)

    assert messages_shown(staff_client, response) == [
        ("success", "Suspended 2 organizations: acme (suspended), globex (suspended).")
    ]
    assert set(Organization.objects.customers().values_list("status", flat=True)) == {"suspended"}


# --- forbidden operations ------------------------------------------------------


def test_organizations_cannot_be_added_through_the_admin(staff_client):
    before = Organization.objects.count()

    page = staff_client.get(admin_url("organizations_organization_add"))
    post = staff_client.post(admin_url("organizations_organization_add"), {"name": "Sneaky"})

    assert page.status_code == 403
    assert post.status_code == 403
    assert Organization.objects.count() == before


def test_organizations_cannot_be_deleted_through_the_admin(staff_client, tenant):
    url = admin_url("organizations_organization_delete", tenant.pk)

    page = staff_client.get(url)
    post = staff_client.post(url, {"post": "yes"})
    bulk = run_action(staff_client, "delete_selected", tenant)

    assert page.status_code == 403
    assert post.status_code == 403
    assert bulk.status_code == 302
    assert messages_shown(staff_client, bulk) == [("warning", "No action selected.")]
    assert Organization.objects.filter(pk=tenant.pk).exists()
    assert tenant.domains.count() == 1


def test_changelist_offers_only_the_status_actions(staff_client):
    response = staff_client.get(ORG_CHANGELIST)

    choices = [value for value, _ in response.context["action_form"].fields["action"].choices]
    assert choices == ["", "suspend_organizations", "resume_organizations"]
    assert admin_url("organizations_organization_add") not in response.content.decode()


def test_change_form_edits_settings_but_not_slug_status_or_schema(staff_client, tenant):
    url = admin_url("organizations_organization_change", tenant.pk)
    form = change_form_data(staff_client.get(url))
    form.update(
        name="Acme Renamed",
        timezone="Europe/Paris",
        week_start="6",
        currency="EUR",
        slug="hijacked",  # read-only fields: ignored if posted
        status="cancelled",
        schema_name="public",
    )

    response = staff_client.post(url, form)

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.name, tenant.timezone, tenant.week_start, tenant.currency) == (
        "Acme Renamed",
        "Europe/Paris",
        6,
        "EUR",
    )
    assert (tenant.slug, tenant.status) == ("acme", "active")
    assert tenant.schema_name.startswith("t_")
    assert list(tenant.domains.values_list("domain", flat=True)) == ["acme.localhost"]


def test_change_form_lists_identity_first_and_timestamps_last(staff_client, tenant):
    response = staff_client.get(admin_url("organizations_organization_change", tenant.pk))

    fields = [f for fs in response.context["adminform"] for line in fs for f in line]
    names = [f.field["name"] if isinstance(f.field, dict) else f.field.name for f in fields]
    assert names[:6] == [
        "id",
        "name",
        "slug",
        "status",
        "status_before_suspension",
        "schema_name",
    ]
    assert names[-2:] == ["created_at", "updated_at"]
    assert {"timezone", "week_start", "currency"} <= set(names)


def test_template_row_is_view_only(staff_client):
    template = Organization.objects.get(schema_name=template_schema_name())
    url = admin_url("organizations_organization_change", template.pk)

    page = staff_client.get(url)
    post = staff_client.post(url, {"name": "hacked", "timezone": "UTC", "currency": "USD"})

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert post.status_code == 403
    template.refresh_from_db()
    assert template.name == "(template)"


# --- domains, memberships, snapshots -------------------------------------------


def test_domain_admin_searches_by_org_slug(staff_client):
    response = staff_client.get(admin_url("organizations_domain_changelist"), {"q": "globex"})

    assert [d.domain for d in response.context["cl"].result_list] == ["globex.localhost"]


def test_primary_domain_cannot_be_deleted(staff_client, tenant):
    domain = tenant.domains.get()

    response = staff_client.post(
        admin_url("organizations_domain_delete", domain.pk), {"post": "yes"}
    )

    assert response.status_code == 403
    assert tenant.domains.count() == 1


def test_membership_admin_searches_by_email_and_org_slug_and_filters_by_role(
    staff_client, tenant, other_tenant
):
    alice = UserFactory(email="alice@corp.test")
    Membership.objects.create(user=alice, organization=tenant, role=Role.OWNER)
    Membership.objects.create(user=alice, organization=other_tenant, role=Role.VIEWER)
    Membership.objects.create(user=UserFactory(), organization=other_tenant, role=Role.MEMBER)
    url = admin_url("organizations_membership_changelist")

    by_email = staff_client.get(url, {"q": "alice@"})
    by_slug = staff_client.get(url, {"q": "globex"})
    owners = staff_client.get(url, {"role__exact": "owner"})

    def rows(response: Any) -> list[tuple[str, str, str]]:
        return sorted(
            (m.user.email, m.organization.slug, m.role) for m in response.context["cl"].result_list
        )

    assert rows(by_email) == [
        ("alice@corp.test", "acme", "owner"),
        ("alice@corp.test", "globex", "viewer"),
    ]
    assert sorted((slug, role) for _, slug, role in rows(by_slug)) == [
        ("globex", "member"),
        ("globex", "viewer"),
    ]
    assert rows(owners) == [("alice@corp.test", "acme", "owner")]


@pytest.fixture
def membership_events() -> Iterator[list[tuple[str, Any, Any]]]:
    """``membership_changed`` signals received: (action, organization_id, user_id)."""
    events: list[tuple[str, Any, Any]] = []

    def receiver(sender: Any, organization_id: Any, user_id: Any, action: str, **kw: Any) -> None:
        events.append((action, organization_id, user_id))

    membership_changed.connect(receiver, dispatch_uid="test_admin.membership_events")
    yield events
    membership_changed.disconnect(dispatch_uid="test_admin.membership_events")


def test_membership_admin_adds_a_membership_and_announces_it(
    staff_client, tenant, membership_events, django_capture_on_commit_callbacks
):
    user = UserFactory(email="bob@corp.test")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            admin_url("organizations_membership_add"),
            {
                "user": str(user.pk),
                "organization": str(tenant.pk),
                "role": "manager",
                "status": "active",
            },
        )

    assert response.status_code == 302
    membership = Membership.objects.get(user=user)
    assert (membership.organization_id, membership.role) == (tenant.pk, "manager")
    assert membership_events == [("added", tenant.pk, user.pk)]


def membership_form(membership: Any, **changes: str) -> dict[str, str]:
    return {"role": membership.role, "status": membership.status, **changes}


def test_last_active_owner_cannot_be_demoted_or_deactivated(
    staff_client, tenant, membership_events, django_capture_on_commit_callbacks
):
    owner = Membership.objects.create(user=UserFactory(), organization=tenant, role=Role.OWNER)
    Membership.objects.create(  # a deactivated owner does not count
        user=UserFactory(),
        organization=tenant,
        role=Role.OWNER,
        status=MembershipStatus.DEACTIVATED,
    )
    url = admin_url("organizations_membership_change", owner.pk)

    with django_capture_on_commit_callbacks(execute=True):
        demote = staff_client.post(url, membership_form(owner, role="admin"))
        deactivate = staff_client.post(url, membership_form(owner, status="deactivated"))

    expected = ["This is the organization's last active owner: make someone else owner first."]
    assert demote.status_code == 200
    assert demote.context["adminform"].form.non_field_errors() == expected
    assert deactivate.status_code == 200
    assert deactivate.context["adminform"].form.non_field_errors() == expected
    owner.refresh_from_db()
    assert (owner.role, owner.status) == ("owner", "active")
    assert membership_events == []


def test_one_of_two_owners_can_be_demoted_and_it_is_announced(
    staff_client, tenant, membership_events, django_capture_on_commit_callbacks
):
    owner = Membership.objects.create(user=UserFactory(), organization=tenant, role=Role.OWNER)
    Membership.objects.create(user=UserFactory(), organization=tenant, role=Role.OWNER)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            admin_url("organizations_membership_change", owner.pk),
            membership_form(owner, role="admin"),
        )

    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == "admin"
    assert membership_events == [("role_changed", tenant.pk, owner.user_id)]


def test_membership_user_and_organization_cannot_be_changed(staff_client, tenant, other_tenant):
    original_user = UserFactory()
    member = Membership.objects.create(user=original_user, organization=tenant)
    other_user = UserFactory()

    response = staff_client.post(
        admin_url("organizations_membership_change", member.pk),
        membership_form(member, user=str(other_user.pk), organization=str(other_tenant.pk)),
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.user_id, member.organization_id) == (original_user.pk, tenant.pk)
    assert Membership.objects.filter(user=other_user).count() == 0


def test_last_owner_membership_cannot_be_deleted_but_a_member_can(
    staff_client, tenant, membership_events, django_capture_on_commit_callbacks
):
    owner = Membership.objects.create(user=UserFactory(), organization=tenant, role=Role.OWNER)
    member = Membership.objects.create(user=UserFactory(), organization=tenant)

    with django_capture_on_commit_callbacks(execute=True):
        owner_delete = staff_client.post(
            admin_url("organizations_membership_delete", owner.pk), {"post": "yes"}
        )
        member_delete = staff_client.post(
            admin_url("organizations_membership_delete", member.pk), {"post": "yes"}
        )

    assert owner_delete.status_code == 403
    assert member_delete.status_code == 302
    assert list(Membership.objects.filter(organization=tenant)) == [owner]
    assert membership_events == [("removed", tenant.pk, member.user_id)]


def test_membership_list_has_no_bulk_delete(staff_client):
    response = staff_client.get(admin_url("organizations_membership_changelist"))

    assert response.status_code == 200
    assert response.context["action_form"] is None  # no actions at all


def test_organization_autocomplete_offers_customers_only(staff_client):
    response = staff_client.get(
        "/admin/autocomplete/",
        {
            "app_label": "organizations",
            "model_name": "membership",
            "field_name": "organization",
            "term": "",
        },
    )

    assert response.status_code == 200
    assert sorted(r["text"] for r in response.json()["results"]) == ["Acme", "Globex"]


def test_template_snapshots_are_listed_read_only(staff_client):
    snapshots = list(TemplateSnapshot.objects.values_list("pk", flat=True))

    listing = staff_client.get(admin_url("tenants_templatesnapshot_changelist"))
    add = staff_client.get(admin_url("tenants_templatesnapshot_add"))

    assert listing.status_code == 200
    assert [s.pk for s in listing.context["cl"].result_list] == snapshots
    assert add.status_code == 403
    assert list(TemplateSnapshot.objects.values_list("pk", flat=True)) == snapshots


# --- users ---------------------------------------------------------------------


def test_user_admin_add_form_creates_a_user_with_a_hashed_password(staff_client):
    response = staff_client.post(
        admin_url("iam_user_add"),
        {
            "email": "  New.Person@Example.COM ",
            "usable_password": "true",
            "password1": "Tr1cky-enough-pass",
            "password2": "Tr1cky-enough-pass",
        },
    )

    assert response.status_code == 302
    user = get_user_model().objects.get(email="new.person@example.com")
    assert response["Location"] == admin_url("iam_user_change", user.pk)
    assert user.password != "Tr1cky-enough-pass"
    assert user.password.startswith("md5$")
    assert user.check_password("Tr1cky-enough-pass")
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)


def test_user_admin_add_form_refuses_an_email_taken_in_another_case(staff_client, staff):
    before = get_user_model().objects.count()

    response = staff_client.post(
        admin_url("iam_user_add"),
        {
            "email": "ROOT@novatime.test",
            "usable_password": "true",
            "password1": "Tr1cky-enough-pass",
            "password2": "Tr1cky-enough-pass",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "email": ["A user with this email address already exists."]
    }
    assert get_user_model().objects.count() == before


def test_user_changelist_shows_membership_counts_and_searches_by_name(
    staff_client, tenant, other_tenant
):
    alice = UserFactory(email="alice@corp.test", first_name="Alice", last_name="Liddell")
    Membership.objects.create(user=alice, organization=tenant)
    Membership.objects.create(user=alice, organization=other_tenant)
    url = admin_url("iam_user_changelist")

    everyone = staff_client.get(url)
    by_name = staff_client.get(url, {"q": "liddell"})
    staff_only = staff_client.get(url, {"is_staff__exact": "1"})

    assert {u.email: u.membership_count for u in everyone.context["cl"].result_list} == {
        "alice@corp.test": 2,
        "root@novatime.test": 0,
    }
    assert [u.email for u in by_name.context["cl"].result_list] == ["alice@corp.test"]
    assert [u.email for u in staff_only.context["cl"].result_list] == ["root@novatime.test"]


def test_user_change_page_shows_memberships_with_links_to_the_organization(staff_client, tenant):
    alice = UserFactory(email="alice@corp.test")
    Membership.objects.create(user=alice, organization=tenant, role=Role.ADMIN)

    response = staff_client.get(admin_url("iam_user_change", alice.pk))

    assert response.status_code == 200
    html = response.content.decode()
    org_url = admin_url("organizations_organization_change", tenant.pk)
    assert f'<a href="{org_url}">Acme</a> (acme)' in html
    assert 'name="username"' not in html


def test_admin_index_lists_the_console_models(staff_client):
    response = staff_client.get("/admin/")

    assert response.status_code == 200
    models = {m["object_name"] for app in response.context["app_list"] for m in app["models"]}
    assert {"Organization", "Domain", "Membership", "User", "TemplateSnapshot"} <= models


# --- invitations and tokens (view-only, secrets never shown) ---------------------


def test_invitations_are_listed_view_only_without_the_token_hash(staff_client, tenant):
    from apps.organizations.models import Invitation

    invitation = Invitation.objects.create(
        organization=tenant, email="guest@example.com", role="member", token_hash="f" * 64
    )

    listing = staff_client.get(admin_url("organizations_invitation_changelist"))
    detail = staff_client.get(admin_url("organizations_invitation_change", invitation.pk))

    assert listing.status_code == 200 and "guest@example.com" in listing.content.decode()
    assert detail.status_code == 200 and "f" * 64 not in detail.content.decode()
    assert staff_client.get(admin_url("organizations_invitation_add")).status_code == 403


def test_auth_tokens_can_be_revoked_but_never_read(staff_client, staff):
    from apps.iam.models import AuthToken
    from apps.iam.tokens import token_create

    token, key = token_create(user=staff, name="laptop")

    detail = staff_client.get(admin_url("iam_authtoken_change", token.pk))
    assert detail.status_code == 200
    assert key not in detail.content.decode() and token.key_hash not in detail.content.decode()
    response = staff_client.post(admin_url("iam_authtoken_delete", token.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not AuthToken.objects.filter(pk=token.pk).exists()


def test_drf_token_admin_is_not_offered(staff_client):
    from django.contrib import admin as django_admin
    from rest_framework.authtoken.models import TokenProxy

    assert not django_admin.site.is_registered(TokenProxy)
