"""Synthetic NovEmoFake-style source-target pairs, so every table4-6 suite runs with no data present.

Built on the drawing and captioning functions of :mod:`benchmark.data.synthetic` (same scenes,
shapes, weathers, events and emotion labels). Each *target* post is paired with one *source*: an
earlier, faithful report about the image (its text and the image file itself).

* **Real targets** agree with their source: a faithful caption of the drawn image; the image is the
  source image itself (half of them) or a fresh drawing of the same content.
* **Fake targets are non-novel**: they always REUSE the source image file, with new text that is
  either a *mismatched claim* (kind ``context``: a faithful description of the picture placed in
  another event's place and topic — out-of-context repurposing, the paper's Figure 1 case) or a
  contradicting caption (kinds ``shape``, ``colour``, ``scene``, ``manipulated`` of the base
  generator). Only comparing the target text with the source text reveals a context fake.

Every target has an origin (``fauxtography``, ``recovery``, ``ticnn`` by default) that shapes its
text a little (a bare claim, a headline plus body sentence, a title plus post) so the per-origin
views differ like the real parts do. Splits follow the NovEmoFake protocol: 80:20 train/test, then
train 90:10 train/validation, stratified by label and seeded. Items carry the event of the base
generator (for EANN) and the image's emotion group (``NewsItem.emotion``).

Registered: ``synthetic-novemofake-tiny`` (200 items), ``synthetic-novemofake`` (1,500) and the
per-origin views ``synthetic-fauxtography``, ``synthetic-recovery``, ``synthetic-ticnn`` (the
items of ``synthetic-novemofake`` with that origin, split membership kept).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.data import synthetic as base
from benchmark.data.sampling import stratified_split
from benchmark.data.schema import FAKE, REAL, DatasetSplits, NewsItem
from benchmark.data.spec import DatasetSpec, LoadOptions

log = logging.getLogger(__name__)

__all__ = ["PAIRS_VERSION", "PAIR_FAKE_KINDS", "make_synthetic_pairs", "origin_view", "DATASET_SPECS"]

PAIRS_VERSION = 1
DEFAULT_ORIGINS = ("fauxtography", "recovery", "ticnn")
PAIR_FAKE_KINDS = ("context",) + base.FAKE_KINDS
_FAKE_KIND_WEIGHTS = np.array([0.4] + [0.6 / len(base.FAKE_KINDS)] * len(base.FAKE_KINDS))
FAKE_RATE = 0.42  # NovEmoFake: 4,950 fake of 11,766
TEST_FRACTION = 0.2
_RECOVERY_BODY = ("officials said the picture was taken earlier this week.",
                  "the article was shared thousands of times online.",
                  "readers sent the photo to the newsroom.")
_TICNN_POST = ("original post: see the picture below.", "original post: this is what happened today.",
               "original post: people are talking about this.")


@dataclass(frozen=True)
class _PairPlan:
    index: int
    event: object  # base._Event
    label: int
    drawn: base.Drawn
    text: str
    source_text: str
    origin: str
    fake_kind: str | None
    reuse_image: bool


def _styled(text: str, origin: str, rng: np.random.Generator) -> str:
    """Give the target text the shape of its origin dataset."""
    if origin == "recovery":
        return f"{text}\n{_RECOVERY_BODY[int(rng.integers(len(_RECOVERY_BODY)))].capitalize()}"
    if origin == "ticnn":
        return f"{text}\n{_TICNN_POST[int(rng.integers(len(_TICNN_POST)))].capitalize()}"
    return text


def _plan_pairs(n_items: int, seed: int, origins: Sequence[str]) -> list[_PairPlan]:
    rng = np.random.default_rng([seed, PAIRS_VERSION, 31])
    n_events = max(5, round(n_items / base.ITEMS_PER_EVENT))
    events = base._events(rng, n_events, "en")
    plans: list[_PairPlan] = []
    for index in range(n_items):
        event = events[index % n_events]
        origin = origins[int(rng.integers(len(origins)))]
        label = FAKE if rng.random() < FAKE_RATE else REAL
        dark_p = 0.6 if label == FAKE else 0.35
        weather = (base.DARK_WEATHERS[int(rng.integers(2))] if rng.random() < dark_p
                   else ("sunny", "calm")[int(rng.integers(2))])
        scene = event.scene if rng.random() < 0.85 else base.SCENES[int(rng.integers(len(base.SCENES)))]
        drawn = base.Drawn(scene=scene, weather=weather,
                           shape=base.SHAPES[int(rng.integers(len(base.SHAPES)))],
                           colour=tuple(base.COLOURS)[int(rng.integers(len(base.COLOURS)))],
                           position=base.POSITIONS[int(rng.integers(len(base.POSITIONS)))],
                           count=int(rng.integers(1, 4)))
        template = int(rng.integers(4))
        source_text = base._source_caption(drawn, "en", event.place, event.topic)
        fake_kind = None
        if label == REAL:
            text = base._describe(drawn, "en", event.place, event.topic, template)
            reuse_image = bool(rng.random() < 0.5)
        else:
            fake_kind = PAIR_FAKE_KINDS[int(rng.choice(len(PAIR_FAKE_KINDS), p=_FAKE_KIND_WEIGHTS))]
            if fake_kind == "context":
                others = [e for e in events if e.place != event.place] or [e for e in events if e is not event]
                other = others[int(rng.integers(len(others)))]
                text = base._describe(drawn, "en", other.place, other.topic, template)
            else:
                text = base._fake_caption(rng, drawn, fake_kind, "en", event.place, event.topic, template)
            reuse_image = True  # non-novel image: the old source image, new text
        plans.append(_PairPlan(index, event, label, drawn, _styled(text, origin, rng), source_text,
                               origin, fake_kind, reuse_image))
    return plans


def make_synthetic_pairs(name: str, n_items: int, seed: int, workdir: Path,
                         origin_names: Sequence[str] = DEFAULT_ORIGINS, *,
                         validation_fraction: float = 0.1) -> DatasetSplits:
    """Generate (or reuse) ``n_items`` synthetic source-target pairs, deterministic in ``seed``.

    Images are PNG files under ``workdir/synthetic/<name>-seed<seed>/images/``: ``<id>-source.png``
    for every source and ``<id>.png`` for targets drawn afresh (the others reuse the source file).
    """
    if n_items < 40:
        raise ValueError(f"synthetic pair dataset {name!r} needs at least 40 items (got {n_items}) so that "
                         "every split holds both labels")
    origins = tuple(origin_names)
    if not origins:
        raise ValueError("origin_names must name at least one origin dataset")
    plans = _plan_pairs(n_items, seed, origins)
    image_dir = Path(workdir) / "synthetic" / f"{name}-seed{seed}" / "images"
    width = max(5, len(str(n_items)))
    ids = [f"{name}-{plan.index:0{width}d}" for plan in plans]
    # drawing jobs in the base generator's form: index 2i = source image, 2i+1 = fresh target image
    jobs: list[base._Plan] = []
    paths: list[Path] = []
    for plan, item_id in zip(plans, ids):
        jobs.append(base._Plan(2 * plan.index, plan.event, plan.label, plan.drawn, "", None, None, None))
        paths.append(image_dir / f"{item_id}-source.png")
        if not plan.reuse_image:
            jobs.append(base._Plan(2 * plan.index + 1, plan.event, plan.label, plan.drawn, "", None, None, None))
            paths.append(image_dir / f"{item_id}.png")
    params = {"pairs_version": PAIRS_VERSION, "generator_version": base.GENERATOR_VERSION, "name": name,
              "n_items": n_items, "seed": seed, "origins": origins, "image_size": base.IMAGE_SIZE}
    params_hash = hashlib.sha256(json.dumps(params, sort_keys=True).encode("utf-8")).hexdigest()
    base._write_images(jobs, paths, image_dir, seed, params_hash)
    items = []
    for plan, item_id in zip(plans, ids):
        source_path = image_dir / f"{item_id}-source.png"
        target_path = source_path if plan.reuse_image else image_dir / f"{item_id}.png"
        items.append(NewsItem(item_id=item_id, text=plan.text, image_paths=(target_path,), label=plan.label,
                              event=plan.event.event_id, language="en", source_text=plan.source_text,
                              source_image_paths=(source_path,), origin=plan.origin,
                              emotion=plan.drawn.emotion))
    train_all, test = stratified_split(items, TEST_FRACTION, seed)
    train, validation = stratified_split(train_all, validation_fraction, seed)
    kinds: dict[str, int] = {}
    for plan in plans:
        if plan.fake_kind:
            kinds[plan.fake_kind] = kinds.get(plan.fake_kind, 0) + 1
    by_origin = {o: sum(p.origin == o for p in plans) for o in origins}
    notes = [
        "synthetic source-target pairs (drawn images, generated English captions), not a real corpus: "
        "numbers on it say nothing about the papers' claims",
        f"pairs v{PAIRS_VERSION} on generator v{base.GENERATOR_VERSION}, seed {seed}, {n_items} targets; "
        f"80:20 train/test then train {round((1 - validation_fraction) * 100)}:"
        f"{round(validation_fraction * 100)} train/validation, stratified by label",
        "origins: " + ", ".join(f"{o} {n}" for o, n in by_origin.items()),
        "fake kinds (all reuse the source image): " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
    ]
    return DatasetSplits(name=name, train=train, validation=validation, test=test, source="synthetic",
                         root=image_dir.parent, problems=[], language="en", notes=notes,
                         split_policy="synthetic-random")  # fixed by the generator; --split does not apply


def origin_view(splits: DatasetSplits, origin: str, name: str | None = None) -> DatasetSplits:
    """The items of ``splits`` whose origin is ``origin``, each kept in its split."""
    def keep(items: list[NewsItem]) -> list[NewsItem]:
        return [item for item in items if item.origin == origin]

    view = dataclasses.replace(
        splits, name=name or f"{splits.name}[{origin}]", train=keep(splits.train),
        validation=keep(splits.validation), test=keep(splits.test), problems=list(splits.problems),
        notes=list(splits.notes) + [f"view: only the items of origin {origin!r} of {splits.name}"])
    if not view.train or not view.test:
        raise ValueError(f"{splits.name} has no {origin!r} items in train or test; origins present: "
                         f"{sorted({i.origin for _, i in splits.items() if i.origin})}")
    return view


# ------------------------------------------------------------------------------ registered sets
SIZES: dict[str, int] = {"synthetic-novemofake-tiny": 200, "synthetic-novemofake": 1500}
VIEWS: dict[str, tuple[str, str]] = {f"synthetic-{o}": ("synthetic-novemofake", o) for o in DEFAULT_ORIGINS}


def load_registered(name: str, root: Path | None, options: LoadOptions) -> DatasetSplits:
    """Loader behind the registered pair sets and views (``root`` unused: nothing is read)."""
    if name in VIEWS:
        parent, origin = VIEWS[name]
        return origin_view(load_registered(parent, None, options), origin, name=name)
    return make_synthetic_pairs(name, SIZES[name], options.seed, options.workdir,
                                validation_fraction=options.validation_fraction)


def _spec(name: str) -> DatasetSpec:
    if name in VIEWS:
        parent, origin = VIEWS[name]
        description = (f"synthetic: the {origin} targets of {parent} (about {SIZES[parent] // 3}) with their "
                       "background sources; stands in for the real part when absent")
    else:
        description = (f"synthetic NovEmoFake-style pairs: {SIZES[name]} targets with a background source "
                       "each; fakes reuse the source image with new, contradicting or out-of-context text")
    return DatasetSpec(name=name, loader=functools.partial(load_registered, name), folder=None,
                       description=description, language="en", kind="synthetic", has_events=True,
                       has_source=True, licence="generated by this project (same licence as the code)",
                       published_at="generated", tags=("synthetic", "novemofake"))


DATASET_SPECS: tuple[DatasetSpec, ...] = tuple(_spec(name) for name in (*SIZES, *VIEWS))
