"""POST /api/v1/ai/suggestions/: per-organization models, cold start,
visibility, isolation between organizations, caching and debounced training."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.ai_services import services, suggestions
from apps.ai_services.models import SuggestionModel
from apps.billing.models import Plan, Subscription
from apps.common.testing import clear_test_cache, expect
from apps.projects.constants import ProjectStatus

from .factories import ProjectFactory, TaskFactory, TimeEntryFactory, client_as, member_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai/suggestions/"


def _history(user_id, plan, *, days_ago=1, repeat=6):
    """``plan`` = [(project, task, description, tags), ...], each written ``repeat`` times."""
    start = timezone.now() - datetime.timedelta(days=days_ago)
    n = 0
    for project, task, description, tags in plan:
        for _ in range(repeat):
            n += 1
            TimeEntryFactory(
                user_id=user_id,
                project=project,
                task=task,
                description=description,
                tags=tags,
                started_at=start - datetime.timedelta(hours=2 * n),
            )


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    suggestions.model_cache.clear()
    yield
    suggestions.model_cache.clear()


@pytest.fixture
def acme_history(in_tenant):
    member = member_of(in_tenant)
    website = ProjectFactory(name="Website")
    mobile = ProjectFactory(name="Mobile app")
    login = TaskFactory(project=website, title="Login page")
    push = TaskFactory(project=mobile, title="Push notifications")
    _history(
        member.user_id,
        [
            (website, login, "fix login redirect bug", ["bug"]),
            (website, login, "login form validation", ["frontend"]),
            (mobile, push, "push notification certificates", ["ios"]),
            (mobile, push, "android push channel setup", ["android"]),
            (mobile, None, "app store release notes", []),
        ],
    )
    return {"member": member, "website": website, "mobile": mobile, "login": login, "push": push}


def test_trained_model_ranks_the_right_project_and_task(acme_history):
    row = services.suggestion_model_train()
    assert row is not None and row.version == 1 and row.entry_count == 30
    client = client_as(acme_history["member"].organization, acme_history["member"])

    body = expect(client.post(URL, {"description": "android push setup"}), 200)

    assert body["source"] == "model" and body["model_version"] == 1
    best = body["suggestions"][0]
    assert best["project"] == str(acme_history["mobile"].pk)
    assert best["task"] == str(acme_history["push"].pk)
    assert best["tags"] == ["android"]
    assert 0.5 < best["confidence"] <= 1
    confidences = [s["confidence"] for s in body["suggestions"]]
    assert confidences == sorted(confidences, reverse=True)


def test_the_users_own_habits_break_ties(in_tenant):
    alice, bob = member_of(in_tenant), member_of(in_tenant)
    design = ProjectFactory(name="Design")
    ops = ProjectFactory(name="Ops")
    _history(alice.user_id, [(design, None, "weekly meeting", [])])
    _history(bob.user_id, [(ops, None, "weekly meeting", [])])
    _history(bob.user_id, [(ops, None, "server patching", [])], days_ago=3)
    services.suggestion_model_train()

    for member, expected in ((alice, design), (bob, ops)):
        client = client_as(in_tenant, member)
        body = expect(client.post(URL, {"description": "weekly meeting"}), 200)
        assert body["suggestions"][0]["project"] == str(expected.pk)


def test_archived_deleted_and_invisible_projects_are_never_suggested(acme_history, in_tenant):
    services.suggestion_model_train()
    mobile = acme_history["mobile"]
    mobile.status = ProjectStatus.ARCHIVED
    mobile.save()
    website = acme_history["website"]
    website.is_private = True
    website.save()
    client = client_as(in_tenant, acme_history["member"])

    body = expect(client.post(URL, {"description": "push notification certificates"}), 200)

    shown = {s["project"] for s in body["suggestions"]}
    assert str(mobile.pk) not in shown and str(website.pk) not in shown
    # A manager sees the private project (but still never the archived one).
    manager = client_as(in_tenant, "manager")
    body = expect(manager.post(URL, {"description": "login redirect", "limit": 5}), 200)
    shown = {s["project"] for s in body["suggestions"]}
    assert str(website.pk) in shown and str(mobile.pk) not in shown


def test_a_deleted_task_degrades_to_its_project(acme_history, in_tenant):
    services.suggestion_model_train()
    acme_history["login"].soft_delete()

    body = expect(
        client_as(in_tenant, acme_history["member"]).post(URL, {"description": "fix login bug"}),
        200,
    )

    best = body["suggestions"][0]
    assert best["project"] == str(acme_history["website"].pk)
    assert best["task"] is None


def test_cold_organization_gets_frequency_rules(in_tenant):
    member = member_of(in_tenant)
    usual = ProjectFactory(name="Support")
    ProjectFactory(name="Billing engine")
    _history(member.user_id, [(usual, None, "tickets", [])], repeat=3)
    client = client_as(in_tenant, member)

    mine = expect(client.post(URL, {"description": "anything"}), 200)
    named = expect(client.post(URL, {"description": "billing engine refactor"}), 200)

    assert mine["source"] == "frequency" and mine["model_version"] is None
    assert mine["suggestions"][0]["project"] == str(usual.pk)
    assert [s["project_name"] for s in named["suggestions"]][:2] == ["Billing engine", "Support"]
    assert SuggestionModel.objects.count() == 0


def test_too_little_history_trains_nothing(in_tenant):
    _history(member_of(in_tenant).user_id, [(ProjectFactory(), None, "x", [])], repeat=3)
    assert services.suggestion_model_train() is None
    assert not services.suggestion_model_needs_training()


def test_isolation_model_of_one_organization_is_never_used_for_another(tenant, other_tenant):
    """Both organizations have a project called "Website"; only acme has a model."""
    with tenant_context(tenant):
        member = member_of(tenant)
        acme_site = ProjectFactory(name="Website")
        _history(member.user_id, [(acme_site, None, "homepage hero banner", [])] * 6)
        acme_row = services.suggestion_model_train()
    with tenant_context(other_tenant):
        globex_member = member_of(other_tenant)
        globex_site = ProjectFactory(name="Website")
        client = client_as(other_tenant, globex_member)
        body = expect(client.post(URL, {"description": "homepage hero banner"}), 200)
        assert body["source"] == "frequency"
        assert all(s["project"] != str(acme_site.pk) for s in body["suggestions"])

        # Even a blob copied by hand into globex's table is refused: it is
        # signed for acme's schema.
        SuggestionModel.objects.create(
            version=acme_row.version,
            entry_count=acme_row.entry_count,
            algorithm=acme_row.algorithm,
            blob=bytes(acme_row.blob),
            signature=acme_row.signature,
        )
        body = expect(client.post(URL, {"description": "homepage hero banner"}), 200)
        assert body["source"] == "frequency"
        assert (other_tenant.schema_name, acme_row.version) in suggestions.model_cache.cached_keys()
        assert all(s["project"] != str(acme_site.pk) for s in body["suggestions"])
        assert globex_site.pk  # globex's own "Website" is untouched
    with tenant_context(tenant):
        client = client_as(tenant, member)
        body = expect(client.post(URL, {"description": "homepage hero banner"}), 200)
        assert body["source"] == "model"
        assert body["suggestions"][0]["project"] == str(acme_site.pk)


def test_models_are_cached_per_schema_and_version(
    acme_history, in_tenant, django_assert_max_num_queries
):
    services.suggestion_model_train()
    client = client_as(in_tenant, acme_history["member"])
    expect(client.post(URL, {"description": "login"}), 200)
    assert suggestions.model_cache.cached_keys() == [(in_tenant.schema_name, 1)]

    # Warm: version lookup + visibility (projects, tasks) + membership; never the blob.
    with django_assert_max_num_queries(6) as captured:
        expect(client.post(URL, {"description": "login"}), 200)
    assert not any("blob" in q["sql"] for q in captured.captured_queries)

    services.suggestion_model_train()
    body = expect(client.post(URL, {"description": "login"}), 200)
    assert body["model_version"] == 2
    assert (in_tenant.schema_name, 2) in suggestions.model_cache.cached_keys()


def test_old_versions_are_pruned(acme_history):
    for _ in range(3):
        services.suggestion_model_train()
    assert list(SuggestionModel.objects.values_list("version", flat=True)) == [3, 2]


def test_training_is_debounced_and_sent_after_commit(acme_history, in_tenant, commit, monkeypatch):
    sent = []
    from apps.ai_services import tasks

    monkeypatch.setattr(
        tasks.train_suggestion_model,
        "apply_async",
        lambda **kw: sent.append((connection.schema_name, kw)),
    )
    cache.delete(f"ai:train-queued:{in_tenant.schema_name}")

    with commit():
        assert services.suggestion_model_schedule_training() is True
        assert services.suggestion_model_schedule_training() is False
        assert sent == []  # not before commit
    assert sent == [(in_tenant.schema_name, {"countdown": 60})]


def test_serving_a_suggestion_queues_training_when_due(
    acme_history, in_tenant, commit, monkeypatch
):
    from apps.ai_services import tasks

    sent = []
    monkeypatch.setattr(tasks.train_suggestion_model, "apply_async", lambda **kw: sent.append(kw))
    client = client_as(in_tenant, acme_history["member"])
    with commit():
        expect(client.post(URL, {"description": "login"}), 200)
    assert len(sent) == 1  # 30 entries, no model yet: due

    services.suggestion_model_train()
    clear_test_cache()
    with commit():
        expect(client.post(URL, {"description": "login"}), 200)
    assert len(sent) == 1  # fresh model, nothing new: not due


def test_train_task_runs_in_the_tenant(acme_history, in_tenant):
    from apps.ai_services.tasks import train_suggestion_model

    assert train_suggestion_model.apply().get() == 1
    assert SuggestionModel.objects.get().version == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"description": 3}, "description"),
        ({"description": "x", "limit": 0}, "limit"),
        ({"description": "x", "limit": 11}, "limit"),
    ],
)
def test_bad_input_is_400(in_tenant, payload, field):
    body = expect(client_as(in_tenant, "member").post(URL, payload, format="json"), 400, "invalid")
    assert field in body["fields"]


@pytest.mark.parametrize(
    ("plan_code", "status", "allowed"),
    [("free", "active", False), ("business", "active", True), ("business", "unpaid", False)],
)
def test_ai_needs_a_plan_with_ai(in_tenant, plan_code, status, allowed):
    plan = Plan.objects.get(code=plan_code)
    Subscription.objects.create(organization=in_tenant, plan=plan, status=status)
    member, owner = client_as(in_tenant, "member"), client_as(in_tenant, "owner")
    calls = [
        member.post(URL, {"description": "x"}),
        member.post("/api/v1/ai/parse/", {"text": "1h x"}),
        member.get("/api/v1/ai/insights/"),
        member.post("/api/v1/ai/summary/", {"from": "2026-11-01", "to": "2026-11-02"}),
        owner.get("/api/v1/ai/rules/"),
    ]
    for response in calls:
        if allowed:
            expect(response, 200)
        else:
            expect(response, 402, "feature_not_in_plan")


def test_same_user_in_two_organizations_gets_each_ones_own_data(tenant, other_tenant):
    """One person, member of both: the host decides whose history answers."""
    with tenant_context(tenant):
        acme_membership = member_of(tenant)
        user = acme_membership.user
        acme_site = ProjectFactory(name="Website")
        _history(user.pk, [(acme_site, None, "homepage hero banner", [])] * 6)
        services.suggestion_model_train()
    with tenant_context(other_tenant):
        from apps.organizations.tests.factories import MembershipFactory

        globex_membership = MembershipFactory(organization=other_tenant, user=user)
        globex_site = ProjectFactory(name="Website")
        _history(user.pk, [(globex_site, None, "homepage hero banner", [])], repeat=2)
        body = expect(
            client_as(other_tenant, globex_membership).post(
                URL, {"description": "homepage hero banner"}
            ),
            200,
        )
    assert body["source"] == "frequency"
    assert [s["project"] for s in body["suggestions"]] == [str(globex_site.pk)]
    with tenant_context(tenant):
        body = expect(
            client_as(tenant, acme_membership).post(URL, {"description": "homepage hero banner"}),
            200,
        )
    assert body["source"] == "model"
    assert [s["project"] for s in body["suggestions"]] == [str(acme_site.pk)]
