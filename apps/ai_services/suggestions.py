"""Project/task/tag suggestions learned from one organization's own history.

The model is a weighted nearest-neighbour vote over TF-IDF character n-grams
(scikit-learn): descriptions in time tracking repeat with small variations
("standup", "daily standup", "stand-up w/ team"), which character n-grams
catch and word models miss, and a neighbour vote learns a new project from
its first few entries, where a linear model needs many. Training rows are the
distinct (description, project, task) triples, each weighted by its entries'
recency (half-life :data:`HALF_LIFE_DAYS`); at prediction time the caller's
own habits multiply each label's score (:data:`USER_BOOST`).

Storage and isolation: each organization's model is a row of
:class:`~apps.ai_services.models.SuggestionModel` in *its own schema*, a
zlib-compressed pickle signed with HMAC-SHA256 over (schema name, version,
blob) with ``SECRET_KEY``. Loading verifies the signature against the
*current* schema, so a blob copied into another organization's table is
refused (and the cold path answers). Loaded models sit in a per-process LRU
keyed by (schema, version): a retrain creates a new version, which every
worker picks up on its next request, and two schemas can never share an
entry. A tenant with no model yet gets frequency rules
(:func:`cold_suggestions`).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import math
import pickle
import threading
import uuid
import zlib
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, F, Max, Q, Value
from django.utils import timezone
from sklearn.feature_extraction.text import TfidfVectorizer

from apps.organizations.models import Membership
from tenants.db import current_schema

from .matching import WordSimilarity, open_projects
from .models import SuggestionModel

logger = logging.getLogger(__name__)

ALGORITHM = "tfidf-char-knn-v1"
HALF_LIFE_DAYS = 60.0
NEIGHBOURS = 40
USER_BOOST = 1.5
SIMILARITY_POWER = 3
#: Labels kept before the visibility filter (some may be hidden or archived).
PREFILTER_LABELS = 15
CACHE_SIZE = getattr(settings, "NOVATIME_AI_MODEL_CACHE_SIZE", 32)

Label = tuple[str, str | None]  # (project_id, task_id)


@dataclass
class Suggestion:
    project_id: str
    task_id: str | None
    tags: list[str]
    confidence: float
    project_name: str = ""
    task_title: str | None = None
    source: str = "model"


@dataclass
class FittedModel:
    """What a trained version holds (pickled into the blob)."""

    vectorizer: TfidfVectorizer
    matrix: Any  # scipy CSR, rows L2-normalised
    row_label: np.ndarray
    row_weight: np.ndarray
    row_tags: list[dict[str, float]]
    labels: list[Label]
    user_prior: dict[str, dict[int, float]] = field(default_factory=dict)
    label_prior: np.ndarray | None = None


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


# --- training -------------------------------------------------------------------------


def fit(rows: list[dict[str, Any]], *, now: datetime.datetime) -> FittedModel:
    """Fit a model on history rows (``user_id, project_id, task_id,
    description, tags, started_at``). Rows without a description still count
    for the label and user priors."""
    label_index: dict[Label, int] = {}
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    user_prior: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    label_weight: dict[int, float] = defaultdict(float)
    for row in rows:
        label = (str(row["project_id"]), str(row["task_id"]) if row["task_id"] else None)
        idx = label_index.setdefault(label, len(label_index))
        age_days = max(0.0, (now - row["started_at"]).total_seconds() / 86400)
        weight = 0.5 ** (age_days / HALF_LIFE_DAYS)
        user_prior[str(row["user_id"])][idx] += weight
        label_weight[idx] += weight
        text = normalise(row["description"] or "")
        if not text:
            continue
        group = groups.setdefault((text, idx), {"weight": 0.0, "tags": Counter(), "n": 0})
        group["weight"] += weight
        group["n"] += 1
        for tag in row["tags"] or []:
            group["tags"][tag] += 1
    if not groups:
        raise ValueError("No described entries to learn from.")
    texts = [text for text, _ in groups]
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1, dtype=np.float32
    )
    matrix = vectorizer.fit_transform(texts).tocsr()
    row_label = np.array([idx for _, idx in groups], dtype=np.int32)
    row_weight = np.array(
        [1.0 + math.log1p(g["weight"]) for g in groups.values()], dtype=np.float32
    )
    row_tags = [{tag: count / g["n"] for tag, count in g["tags"].items()} for g in groups.values()]
    priors: dict[str, dict[int, float]] = {}
    for user, per_label in user_prior.items():
        total = sum(per_label.values()) or 1.0
        priors[user] = {idx: w / total for idx, w in per_label.items() if w / total >= 0.01}
    total_weight = sum(label_weight.values()) or 1.0
    label_prior = np.zeros(len(label_index), dtype=np.float32)
    for idx, w in label_weight.items():
        label_prior[idx] = w / total_weight
    return FittedModel(
        vectorizer=vectorizer,
        matrix=matrix,
        row_label=row_label,
        row_weight=row_weight,
        row_tags=row_tags,
        labels=list(label_index),
        user_prior=priors,
        label_prior=label_prior,
    )


def _signature(schema_name: str, version: int, blob: bytes) -> str:
    key = hashlib.sha256(f"novatime-ai-model:{settings.SECRET_KEY}".encode()).digest()
    message = f"{schema_name}:{version}:".encode() + hashlib.sha256(blob).digest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def pack(model: FittedModel, *, schema_name: str, version: int) -> tuple[bytes, str]:
    blob = zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 6)
    return blob, _signature(schema_name, version, blob)


def unpack(
    blob: bytes | memoryview, signature: str, *, schema_name: str, version: int
) -> FittedModel | None:
    """The model, if the blob was signed for this schema and version; else ``None``.
    ``blob`` as the column gives it (``BinaryField`` reads a ``memoryview``)."""
    expected = _signature(schema_name, version, bytes(blob))
    if not hmac.compare_digest(expected, signature):
        logger.error(
            "ai.model_signature_mismatch", extra={"schema": schema_name, "version": version}
        )
        return None
    return pickle.loads(zlib.decompress(bytes(blob)))


# --- loading (per-process LRU keyed by schema + version) ------------------------------


class _ModelCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, int], FittedModel | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> tuple[bool, FittedModel | None]:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return True, self._data[key]
        return False, None

    def put(self, key: tuple[str, int], value: FittedModel | None) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def cached_keys(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._data)


model_cache = _ModelCache(CACHE_SIZE)


def current_model() -> tuple[int | None, FittedModel | None]:
    """(version, model) of the current schema's newest model; (None, None) when
    it has none. One indexed query per call; the blob only on a cache miss."""
    schema = current_schema()
    version = SuggestionModel.objects.order_by("-version").values_list("version", flat=True).first()
    if version is None:
        return None, None
    key = (schema, version)
    hit, model = model_cache.get(key)
    if hit:
        return version, model
    row = SuggestionModel.objects.filter(version=version).only("blob", "signature").first()
    model = None
    if row is not None:
        model = unpack(row.blob, row.signature, schema_name=schema, version=version)
    model_cache.put(key, model)
    return version, model


# --- prediction -----------------------------------------------------------------------


def score_labels(
    model: FittedModel, description: str, *, user_id: str
) -> list[tuple[int, float, dict[str, float]]]:
    """(label index, score, tag votes) best first, before visibility filtering."""
    query = model.vectorizer.transform([normalise(description)])
    if query.nnz == 0:
        sims = np.zeros(model.matrix.shape[0], dtype=np.float32)
    else:
        sims = (model.matrix @ query.T).toarray().ravel()
    k = min(NEIGHBOURS, sims.shape[0])
    top = np.argpartition(-sims, k - 1)[:k] if k else np.array([], dtype=np.int64)
    scores: dict[int, float] = defaultdict(float)
    tag_votes: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    tag_mass: dict[int, float] = defaultdict(float)
    for row in top:
        sim = float(sims[row])
        if sim <= 0:
            continue
        label = int(model.row_label[row])
        contribution = (sim**SIMILARITY_POWER) * float(model.row_weight[row])
        scores[label] += contribution
        tag_mass[label] += contribution
        for tag, share in model.row_tags[row].items():
            tag_votes[label][tag] += contribution * share
    prior = model.user_prior.get(str(user_id), {})
    if not scores:  # nothing similar: the user's (or everyone's) habits
        source = prior or {
            i: float(p)
            for i, p in enumerate(model.label_prior if model.label_prior is not None else [])
        }
        habits: list[tuple[int, float, dict[str, float]]] = [
            (idx, 0.25 * share, {}) for idx, share in sorted(source.items(), key=lambda x: -x[1])
        ]
        return habits[:PREFILTER_LABELS]
    for label in scores:
        scores[label] *= 1.0 + USER_BOOST * prior.get(label, 0.0)
    ranked = sorted(scores.items(), key=lambda x: -x[1])[:PREFILTER_LABELS]
    total = sum(s for _, s in ranked) or 1.0
    best_sim = float(sims[top].max()) if len(top) else 0.0
    out = []
    for label, score in ranked:
        votes = {tag: v / tag_mass[label] for tag, v in tag_votes[label].items() if tag_mass[label]}
        # Share of the vote, damped when even the nearest neighbour is far.
        out.append((label, (score / total) * min(1.0, 0.3 + best_sim), votes))
    return out


def _visible_labels(
    candidates: list[tuple[Label, float, dict[str, float]]], *, actor: Membership
) -> list[tuple[SimpleNamespace, SimpleNamespace | None, float, dict[str, float]]]:
    """Drop labels the member may not see or book on, in one query: the
    visible open projects among the candidates, each with its live,
    not-cancelled candidate tasks aggregated into arrays. A label whose task
    is gone degrades to its project (merged with the project's own label)."""
    project_ids = {p for (p, _), _, _ in candidates}
    task_ids = {t for (_, t), _, _ in candidates if t}
    live_task = Q(tasks__id__in=task_ids, tasks__deleted_at__isnull=True) & ~Q(
        tasks__status="cancelled"
    )
    rows = (
        open_projects(actor)
        .filter(pk__in=project_ids)
        .values("pk", "name")
        .annotate(
            task_ids=ArrayAgg("tasks__id", filter=live_task, default=Value([])),
            task_titles=ArrayAgg("tasks__title", filter=live_task, default=Value([])),
        )
    )
    projects: dict[str, SimpleNamespace] = {}
    tasks: dict[str, SimpleNamespace] = {}
    for row in rows:
        projects[str(row["pk"])] = SimpleNamespace(pk=row["pk"], name=row["name"])
        for task_id, title in zip(row["task_ids"], row["task_titles"], strict=True):
            tasks[str(task_id)] = SimpleNamespace(pk=task_id, title=title, project_id=row["pk"])
    merged: dict[tuple[str, str | None], list[Any]] = {}
    for (project_id, task_id), confidence, tags in candidates:
        project = projects.get(project_id)
        if project is None:
            continue
        task = tasks.get(task_id) if task_id else None
        if task is not None and str(task.project_id) != project_id:
            task = None
        key = (project_id, str(task.pk) if task else None)
        if key in merged:
            merged[key][2] += confidence
            continue
        merged[key] = [project, task, confidence, tags]
    return [tuple(v) for v in merged.values()]


def model_suggestions(
    model: FittedModel, description: str, *, actor: Membership, limit: int
) -> list[Suggestion]:
    ranked = score_labels(model, description, user_id=str(actor.user_id))
    candidates = [(model.labels[idx], conf, votes) for idx, conf, votes in ranked]
    out = []
    for project, task, confidence, votes in _visible_labels(candidates, actor=actor):
        tags = sorted(tag for tag, share in votes.items() if share >= 0.5)
        out.append(
            Suggestion(
                project_id=str(project.pk),
                task_id=str(task.pk) if task else None,
                tags=tags,
                confidence=round(min(1.0, confidence), 3),
                project_name=project.name,
                task_title=task.title if task else None,
            )
        )
    out.sort(key=lambda s: -s.confidence)
    return out[:limit]


def cold_suggestions(description: str, *, actor: Membership, limit: int) -> list[Suggestion]:
    """Frequency rules for an organization without a model: the member's most
    used (project, task) pairs of the last 90 days, the organization's, and
    projects whose name resembles the description (pg_trgm). Three bounded
    queries."""
    from apps.time_entries.models import TimeEntry

    since = timezone.now() - datetime.timedelta(days=90)
    projects = open_projects(actor)
    recent = TimeEntry.objects.filter(started_at__gte=since, project__in=projects).filter(
        Q(task__isnull=True) | Q(task__deleted_at__isnull=True)
    )
    scores: dict[tuple[uuid.UUID, uuid.UUID | None], float] = defaultdict(float)
    mine = (
        recent.filter(user_id=actor.user_id)
        .values("project_id", "task_id")
        .annotate(n=Count("id"), last=Max("started_at"))
        .order_by("-n")[:20]
    )
    mine_total = sum(r["n"] for r in mine) or 1
    for r in mine:
        scores[(r["project_id"], r["task_id"])] += 0.6 * r["n"] / mine_total
    everyone = recent.values("project_id", "task_id").annotate(n=Count("id")).order_by("-n")[:20]
    all_total = sum(r["n"] for r in everyone) or 1
    for r in everyone:
        scores[(r["project_id"], r["task_id"])] += 0.2 * r["n"] / all_total
    text = normalise(description)
    if text:
        named = (
            projects.annotate(_sim=WordSimilarity(F("name"), Value(text)))
            .filter(_sim__gte=0.4)
            .order_by("-_sim")
            .values_list("pk", "_sim")[:5]
        )
        for pk, sim in named:
            scores[(pk, None)] += float(sim)
    ranked = sorted(scores.items(), key=lambda x: -x[1])[:PREFILTER_LABELS]
    candidates: list[tuple[Label, float, dict[str, float]]] = [
        ((str(p), str(t) if t else None), s, {}) for (p, t), s in ranked
    ]
    out = [
        Suggestion(
            project_id=str(project.pk),
            task_id=str(task.pk) if task else None,
            tags=[],
            confidence=round(min(1.0, conf), 3),
            project_name=project.name,
            task_title=task.title if task else None,
            source="frequency",
        )
        for project, task, conf, _ in _visible_labels(candidates, actor=actor)
    ]
    out.sort(key=lambda s: -s.confidence)
    return out[:limit]


def suggest(
    description: str, *, actor: Membership, limit: int = 3
) -> tuple[list[Suggestion], dict[str, str | int | None]]:
    """Suggestions for ``description`` plus how they were made (model version
    or ``frequency``), for the response and the logs."""
    version, model = current_model()
    if model is not None:
        return model_suggestions(model, description, actor=actor, limit=limit), {
            "source": "model",
            "model_version": version,
        }
    return cold_suggestions(description, actor=actor, limit=limit), {
        "source": "frequency",
        "model_version": None,
    }
