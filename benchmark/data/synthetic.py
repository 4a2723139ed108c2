"""The embedded synthetic dataset: the default when no real corpus is present, and the CI data.

Each post is a procedurally drawn image (a scene background — beach, sky, forest, city, snow — under
some weather, with one to three coloured shapes placed in it) and a caption describing it, in English
or Chinese. Posts are grouped into events (a scene, a fictional place, a topic with recurring words
and a hashtag), and splits are made by event so that test events never occur in training, as in
MediaEval. Real posts describe the image faithfully. Fake posts carry a real cross-modal
inconsistency (the caption names another shape, colour or scene than the one drawn) or a manipulated
caption (sensational wording plus a contradicted detail: another count or another weather). Mild
"breaking"-style wording also occurs in real posts, so no single word gives the label away.

Every image also carries an emotion label derived from what is drawn (``NewsItem.emotion``): 0 for
sunny or calm scenes (joy/love/sadness group), 1 for stormy or smoky ones (fear/surprise/anger
group). Fake posts are drawn somewhat more often under dark weather, so emotion is a useful but
imperfect cue, as the NovEmoFake paper argues for real news.

With ``with_source=True`` every post also gets background knowledge (``source_text`` /
``source_image_paths``): an earlier report on the same event. For real posts it describes the same
image (non-novel) or, for some, a sibling real post of the event; for fake posts it is the faithful
description of the drawn image, which the fake caption contradicts (novel).

Everything is deterministic for a seed: item metadata comes from one ``numpy`` Generator, and each
image is drawn from its own generator seeded by ``(seed, item index)``. Images are written once as
PNG under ``<workdir>/synthetic/<name>-seed<seed>/images/`` and reused when the generation parameters
hash the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmark.data.sampling import event_split
from benchmark.data.schema import FAKE, REAL, DatasetSplits, NewsItem
from benchmark.data.spec import DatasetSpec, LoadOptions

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
IMAGE_SIZE = 128
ITEMS_PER_EVENT = 20
TEST_EVENT_FRACTION = 0.2

# ---------------------------------------------------------------- vocabulary (drawn value -> words)
SHAPES = ("circle", "square", "triangle", "star", "diamond", "hexagon")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "blue": (40, 80, 225), "green": (30, 165, 60), "yellow": (245, 215, 30),
    "purple": (140, 55, 185), "orange": (250, 140, 25), "white": (250, 250, 250), "black": (15, 15, 15),
}
SCENES = ("beach", "sky", "forest", "city", "snow")
WEATHERS = ("sunny", "calm", "stormy", "smoky")
DARK_WEATHERS = ("stormy", "smoky")  # emotion 1 (fear/surprise/anger); others emotion 0
POSITIONS = ("top", "left", "right", "middle")
FAKE_KINDS = ("shape", "colour", "scene", "manipulated")

WORDS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "shape": {"circle": "circle", "square": "square", "triangle": "triangle", "star": "star",
                  "diamond": "diamond", "hexagon": "hexagon"},
        "colour": {c: c for c in COLOURS},
        "scene": {"beach": "a sandy beach", "sky": "an open sky", "forest": "a pine forest",
                  "city": "a busy city street", "snow": "a snowy field"},
        "weather": {"sunny": "on a sunny day", "calm": "on a calm morning", "stormy": "during a heavy storm",
                    "smoky": "under a smoky red sky"},
        "position": {"top": "above", "left": "on the left of", "right": "on the right of",
                     "middle": "in the middle of"},
        "count": {"1": "a", "2": "two", "3": "three"},
    },
    "zh": {
        "shape": {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形",
                  "diamond": "菱形", "hexagon": "六边形"},
        "colour": {"red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色", "purple": "紫色",
                   "orange": "橙色", "white": "白色", "black": "黑色"},
        "scene": {"beach": "沙滩", "sky": "天空", "forest": "松树林", "city": "城市街道", "snow": "雪地"},
        "weather": {"sunny": "阳光明媚", "calm": "清晨很平静", "stormy": "暴风雨正猛烈",
                    "smoky": "天空烟雾弥漫、一片暗红"},
        "position": {"top": "上方", "left": "左侧", "right": "右侧", "middle": "中间"},
        "count": {"1": "一个", "2": "两个", "3": "三个"},
    },
}

PLACES = {
    "en": ([f"{a} {b}" for a in ("Port", "Lake", "North", "Old", "Fort", "Glen")
            for b in ("Alder", "Brook", "Cedar", "Dale", "Fern", "Harbor", "Linden", "Maple")]),
    "zh": ([a + b for a in ("青石", "白沙", "红枫", "金桥", "云溪", "龙泉", "松山", "明湖")
            for b in ("镇", "村", "市", "县", "湾", "岭")]),
}
# topic -> (recurring words, hashtag stem)
TOPICS = {
    "en": {"festival": ("lantern festival", "crowds"), "parade": ("spring parade", "marchers"),
           "rescue": ("rescue effort", "volunteers"), "concert": ("open-air concert", "fans"),
           "market": ("night market", "vendors"), "launch": ("balloon launch", "spectators"),
           "drill": ("emergency drill", "residents"), "race": ("charity race", "runners")},
    "zh": {"festival": ("灯笼节", "人群"), "parade": ("春季游行", "游行队伍"), "rescue": ("救援行动", "志愿者"),
           "concert": ("露天音乐会", "歌迷"), "market": ("夜市", "摊主"), "launch": ("气球放飞", "观众"),
           "drill": ("应急演练", "居民"), "race": ("慈善跑", "跑者")},
}
MILD_PREFIX = {"en": ("Breaking: ", "Update: ", "Wow, ", "Just now: "), "zh": ("突发：", "现场：", "刚刚，", "快讯：")}
SENSATIONAL = {
    "en": (("SHOCKING: ", " They don't want you to see this!!!"), ("You won't believe it: ", " Share before it is deleted!"),
           ("UNBELIEVABLE!!! ", " The media is hiding it."), ("EXPOSED: ", " Wake up people!!")),
    "zh": (("震惊！", "，看完马上删！"), ("惊天内幕！", "，媒体都不敢报道！！"), ("不看后悔！", "，速转！"),
           ("紧急扩散！", "，真相竟然是这样！！")),
}


@dataclass(frozen=True)
class Drawn:
    """What an image shows: the ground truth its caption is checked against."""

    scene: str
    weather: str
    shape: str
    colour: str
    position: str
    count: int

    @property
    def emotion(self) -> int:
        return 1 if self.weather in DARK_WEATHERS else 0


@dataclass(frozen=True)
class _Event:
    event_id: str
    scene: str
    place: str
    topic: str


# ------------------------------------------------------------------------------ captions
def _describe(drawn: Drawn, language: str, place: str, topic: str, template: int) -> str:
    """A faithful caption of ``drawn`` (template picks one of several phrasings)."""
    w = WORDS[language]
    count = w["count"][str(drawn.count)]
    shape = w["shape"][drawn.shape]
    colour = w["colour"][drawn.colour]
    scene, weather, position = w["scene"][drawn.scene], w["weather"][drawn.weather], w["position"][drawn.position]
    phrase, crowd = TOPICS[language][topic]
    tag = topic + "".join(place.lower().split()) if language == "en" else place + phrase
    if language == "en":
        plural = "s" if drawn.count > 1 else ""
        thing = f"{count} {colour} {shape}{plural}"
        templates = (
            f"{thing[0].upper()}{thing[1:]} {position} {scene} in {place} {weather}, seen at the {phrase} #{tag}",
            f"Photo from the {place} {phrase}: {thing} {position} {scene} {weather}. #{tag}",
            f"{crowd.capitalize()} at the {phrase} in {place} spotted {thing} {position} {scene} {weather}",
            f"{place} {phrase} {weather}: {thing} {position} {scene} #{tag}",
        )
    else:
        thing = f"{count}{colour}的{shape}"
        templates = (
            f"#{tag}# {place}{phrase}现场，{scene}{position}有{thing}，{weather}。",
            f"{place}{phrase}：{weather}，{scene}{position}出现了{thing}。#{tag}#",
            f"{crowd}在{place}{phrase}拍到{scene}{position}的{thing}，{weather}。",
            f"【{place}{phrase}】{scene}{position}有{thing}，当时{weather}。",
        )
    return templates[template % len(templates)]


def _other(rng: np.random.Generator, options: tuple[str, ...], current: str) -> str:
    choices = [o for o in options if o != current]
    return choices[int(rng.integers(len(choices)))]


def _fake_caption(rng: np.random.Generator, drawn: Drawn, kind: str, language: str, place: str,
                  topic: str, template: int) -> str:
    """A caption that contradicts ``drawn``: another shape/colour/scene, or sensational + wrong detail."""
    if kind == "shape":
        claimed = Drawn(**{**drawn.__dict__, "shape": _other(rng, SHAPES, drawn.shape)})
    elif kind == "colour":
        claimed = Drawn(**{**drawn.__dict__, "colour": _other(rng, tuple(COLOURS), drawn.colour)})
    elif kind == "scene":
        claimed = Drawn(**{**drawn.__dict__, "scene": _other(rng, SCENES, drawn.scene)})
    elif kind == "manipulated":
        if rng.random() < 0.5:
            claimed = Drawn(**{**drawn.__dict__, "count": int(_other(rng, ("1", "2", "3"), str(drawn.count)))})
        else:
            claimed = Drawn(**{**drawn.__dict__, "weather": _other(rng, WEATHERS, drawn.weather)})
        prefix, suffix = SENSATIONAL[language][int(rng.integers(len(SENSATIONAL[language])))]
        body = _describe(claimed, language, place, topic, template)
        if language == "zh":
            body = body.rstrip("。")
        return prefix + body + suffix
    else:
        raise ValueError(f"unknown fake kind {kind!r}; expected one of {FAKE_KINDS}")
    return _describe(claimed, language, place, topic, template)


def _source_caption(drawn: Drawn, language: str, place: str, topic: str) -> str:
    """Background knowledge: an earlier, faithful report about an image of the event."""
    body = _describe(drawn, language, place, topic, template=3)
    return ("Earlier report — " + body) if language == "en" else ("早前报道：" + body)


# ------------------------------------------------------------------------------ drawing
_SCENE_COLOURS = {  # (sky top, sky bottom, ground colour, horizon as fraction of height)
    "beach": ((110, 180, 240), (190, 225, 250), (225, 200, 140), 0.62),
    "sky": ((60, 120, 220), (170, 210, 250), None, 1.0),
    "forest": ((140, 190, 230), (200, 230, 210), (50, 120, 50), 0.58),
    "city": ((150, 170, 200), (210, 215, 225), (110, 110, 115), 0.7),
    "snow": ((170, 200, 230), (225, 235, 245), (245, 248, 252), 0.6),
}


def _tint(colour: tuple[int, int, int], weather: str) -> tuple[int, int, int]:
    r, g, b = colour
    if weather == "sunny":
        return (min(255, r + 20), min(255, g + 15), max(0, b - 10))
    if weather == "stormy":
        return (int(r * 0.35), int(g * 0.38), int(b * 0.45))
    if weather == "smoky":
        return (min(255, int(r * 0.55) + 70), int(g * 0.3), int(b * 0.25))
    return colour


def _shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.75, cy), (cx, cy + r), (cx - r * 0.75, cy)]
    if shape == "hexagon":
        return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)[:-1]]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -np.pi / 2 + k * np.pi / 5
            points.append((cx + radius * np.cos(angle), cy + radius * np.sin(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}")


def draw_image(drawn: Drawn, rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw the scene, weather and shapes of ``drawn`` (jitter from ``rng``) as an RGB image."""
    top, bottom, ground, horizon = _SCENE_COLOURS[drawn.scene]
    top, bottom = _tint(top, drawn.weather), _tint(bottom, drawn.weather)
    ramp = np.linspace(0.0, 1.0, size)[:, None]
    sky = (np.array(top)[None, :] * (1 - ramp) + np.array(bottom)[None, :] * ramp)
    pixels = np.repeat(sky[:, None, :], size, axis=1)
    horizon_y = int(size * (horizon + rng.uniform(-0.04, 0.04))) if ground is not None else size
    if ground is not None:
        pixels[horizon_y:] = np.array(_tint(ground, drawn.weather))
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    s = size
    # scene elements
    if drawn.scene == "beach":
        draw.rectangle([0, horizon_y - s * 0.1, s, horizon_y], fill=_tint((40, 110, 190), drawn.weather))
        for x in range(0, s, 16):
            draw.arc([x, horizon_y - s * 0.12, x + 16, horizon_y - s * 0.06], 200, 340,
                     fill=_tint((230, 240, 250), drawn.weather))
    elif drawn.scene == "sky":
        for _ in range(3):
            x, y = rng.uniform(0, s * 0.8), rng.uniform(s * 0.05, s * 0.8)
            draw.ellipse([x, y, x + s * 0.25, y + s * 0.1], fill=_tint((245, 245, 250), drawn.weather))
    elif drawn.scene == "forest":
        for x in np.linspace(0, s, 7):
            h = rng.uniform(0.18, 0.3) * s
            draw.rectangle([x - 2, horizon_y - 4, x + 2, horizon_y + 6], fill=(90, 60, 30))
            draw.polygon([(x, horizon_y - h), (x + 9, horizon_y), (x - 9, horizon_y)],
                         fill=_tint((20, 90, 35), drawn.weather))
    elif drawn.scene == "city":
        x = 0.0
        while x < s:
            width, height = rng.uniform(12, 22), rng.uniform(0.2, 0.45) * s
            colour = _tint((90, 95, 110), drawn.weather)
            draw.rectangle([x, horizon_y - height, x + width - 2, horizon_y], fill=colour)
            for wy in np.arange(horizon_y - height + 4, horizon_y - 4, 7):
                draw.rectangle([x + 3, wy, x + 6, wy + 3], fill=(250, 230, 120))
            x += width
    elif drawn.scene == "snow":
        for x0 in (-s * 0.1, s * 0.35):
            draw.polygon([(x0, horizon_y), (x0 + s * 0.35, horizon_y - s * 0.3), (x0 + s * 0.7, horizon_y)],
                         fill=_tint((130, 145, 170), drawn.weather))
        for _ in range(25):
            x, y = rng.uniform(0, s), rng.uniform(0, s)
            draw.ellipse([x, y, x + 2, y + 2], fill=(255, 255, 255))
    # weather
    if drawn.weather == "sunny":
        draw.ellipse([s * 0.84, s * 0.03, s * 0.97, s * 0.16], fill=(255, 235, 120))
    elif drawn.weather == "stormy":
        for _ in range(30):
            x, y = rng.uniform(0, s), rng.uniform(0, s)
            draw.line([x, y, x - 3, y + 9], fill=(160, 170, 200), width=1)
        x = rng.uniform(s * 0.1, s * 0.9)
        draw.line([(x, 0), (x - 8, s * 0.2), (x + 2, s * 0.22), (x - 10, s * 0.42)], fill=(255, 250, 150), width=2)
    elif drawn.weather == "smoky":
        for _ in range(5):
            x, y = rng.uniform(-10, s * 0.8), rng.uniform(0, s * 0.4)
            draw.ellipse([x, y, x + s * 0.35, y + s * 0.15], fill=(70, 45, 40))
    # the shapes
    centres = {"top": (0.5, 0.22), "left": (0.25, 0.55), "right": (0.75, 0.55), "middle": (0.5, 0.5)}
    cx, cy = centres[drawn.position]
    radius = s * rng.uniform(0.09, 0.12) / (1 + 0.25 * (drawn.count - 1))
    spread = 2.3 * radius
    offsets = [(0.0, 0.0)] if drawn.count == 1 else [
        ((k - (drawn.count - 1) / 2) * spread, 0.0) if drawn.position in ("top", "middle")
        else (0.0, (k - (drawn.count - 1) / 2) * spread) for k in range(drawn.count)]
    fill = COLOURS[drawn.colour]
    outline = (0, 0, 0) if drawn.colour != "black" else (255, 255, 255)
    for dx, dy in offsets:
        x = cx * s + dx + rng.uniform(-2, 2)
        y = cy * s + dy + rng.uniform(-2, 2)
        if drawn.shape == "circle":
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill, outline=outline)
        else:
            draw.polygon(_shape_polygon(drawn.shape, x, y, radius), fill=fill, outline=outline)
    return image


# ------------------------------------------------------------------------------ generation
@dataclass(frozen=True)
class _Plan:
    index: int
    event: _Event
    label: int
    drawn: Drawn
    text: str
    fake_kind: str | None
    source_text: str | None
    source_index: int | None


def _events(rng: np.random.Generator, n_events: int, language: str) -> list[_Event]:
    places = list(PLACES[language])
    order = rng.permutation(len(places))
    topics = list(TOPICS[language])
    events = []
    for k in range(n_events):
        scene = SCENES[(k + int(rng.integers(len(SCENES)))) % len(SCENES)] if k >= len(SCENES) else SCENES[k]
        place = places[int(order[k % len(places)])]
        topic = topics[int(rng.integers(len(topics)))]
        events.append(_Event(f"{scene}-{k:03d}", scene, place, topic))
    return events


def _plan(n_items: int, seed: int, language: str, with_source: bool) -> list[_Plan]:
    rng = np.random.default_rng(seed)
    n_events = max(5, round(n_items / ITEMS_PER_EVENT))
    events = _events(rng, n_events, language)
    sizes = [n_items // n_events + (1 if k < n_items % n_events else 0) for k in range(n_events)]
    plans: list[_Plan] = []
    index = 0
    for event, size in zip(events, sizes):
        n_fake = min(size - 2, max(2, round(size * rng.uniform(0.35, 0.65))))
        labels = np.array([FAKE] * n_fake + [REAL] * (size - n_fake))
        labels = labels[rng.permutation(size)]
        real_in_event: list[_Plan] = []
        for label in labels.tolist():
            dark_p = 0.6 if label == FAKE else 0.35
            weather = (DARK_WEATHERS[int(rng.integers(2))] if rng.random() < dark_p
                       else ("sunny", "calm")[int(rng.integers(2))])
            scene = event.scene if rng.random() < 0.85 else SCENES[int(rng.integers(len(SCENES)))]
            drawn = Drawn(scene=scene, weather=weather, shape=SHAPES[int(rng.integers(len(SHAPES)))],
                          colour=tuple(COLOURS)[int(rng.integers(len(COLOURS)))],
                          position=POSITIONS[int(rng.integers(len(POSITIONS)))], count=int(rng.integers(1, 4)))
            template = int(rng.integers(4))
            fake_kind = None
            if label == FAKE:
                fake_kind = FAKE_KINDS[int(rng.integers(len(FAKE_KINDS)))]
                text = _fake_caption(rng, drawn, fake_kind, language, event.place, event.topic, template)
            else:
                text = _describe(drawn, language, event.place, event.topic, template)
                if rng.random() < 0.15:
                    text = MILD_PREFIX[language][int(rng.integers(len(MILD_PREFIX[language])))] + text
            source_text, source_index = None, None
            if with_source:
                if label == REAL and real_in_event and rng.random() < 0.3:
                    sibling = real_in_event[int(rng.integers(len(real_in_event)))]
                    source_text = _source_caption(sibling.drawn, language, event.place, event.topic)
                    source_index = sibling.index
                else:
                    source_text = _source_caption(drawn, language, event.place, event.topic)
                    source_index = index
            plan = _Plan(index, event, int(label), drawn, text, fake_kind, source_text, source_index)
            plans.append(plan)
            if label == REAL:
                real_in_event.append(plan)
            index += 1
    return plans


def _params_hash(name: str, n_items: int, seed: int, language: str, with_source: bool) -> str:
    params = {"generator_version": GENERATOR_VERSION, "name": name, "n_items": n_items, "seed": seed,
              "language": language, "image_size": IMAGE_SIZE, "with_source": with_source}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode("utf-8")).hexdigest()


def _write_images(plans: list[_Plan], paths: list[Path], image_dir: Path, seed: int, params_hash: str) -> None:
    manifest = image_dir / "params.json"
    if manifest.is_file() and all(p.is_file() for p in paths):
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("params_hash") == params_hash:
                log.debug("synthetic images in %s are up to date", image_dir)
                return
        except (json.JSONDecodeError, OSError) as exc:
            log.warning("%s unreadable (%s); redrawing the synthetic images", manifest, exc)
    image_dir.mkdir(parents=True, exist_ok=True)
    for plan, path in zip(plans, paths):
        image = draw_image(plan.drawn, np.random.default_rng([seed, plan.index]))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        image.save(tmp, format="PNG", optimize=False)
        os.replace(tmp, path)
    tmp_manifest = manifest.with_name(f".params.{os.getpid()}.tmp")
    tmp_manifest.write_text(json.dumps({"params_hash": params_hash, "items": len(plans)}), encoding="utf-8")
    os.replace(tmp_manifest, manifest)
    log.info("drew %d synthetic images into %s", len(plans), image_dir)


def make_synthetic(name: str, n_items: int, seed: int, workdir: Path, language: str = "en",
                   with_source: bool = False, *, validation_fraction: float = 0.1) -> DatasetSplits:
    """Generate (or reuse) the synthetic dataset ``name`` with ``n_items`` posts, deterministic in ``seed``.

    About 20% of the events (at least one) form the test split; validation is carved from the
    remaining events with :func:`benchmark.data.sampling.event_split` (``validation_fraction``).
    Every event holds both labels, so every split has fake and real posts. ``language`` is "en"
    (English captions) or "zh" (Chinese captions, Weibo-style hashtags). With ``with_source`` each
    post also carries background knowledge (see the module docstring). Images are PNG files under
    ``workdir/synthetic/<name>-seed<seed>/images/``.
    """
    if language not in WORDS:
        raise ValueError(f"synthetic language {language!r} is not supported; use one of {sorted(WORDS)}")
    if n_items < 40:
        raise ValueError(f"synthetic dataset {name!r} needs at least 40 items (got {n_items}) so that "
                         f"train, validation and test each hold whole events with both labels")
    plans = _plan(n_items, seed, language, with_source)
    image_dir = Path(workdir) / "synthetic" / f"{name}-seed{seed}" / "images"
    id_width = max(5, len(str(n_items)))
    item_ids = [f"{name}-{plan.index:0{id_width}d}" for plan in plans]
    paths = [image_dir / f"{item_id}.png" for item_id in item_ids]
    _write_images(plans, paths, image_dir, seed, _params_hash(name, n_items, seed, language, with_source))
    items = [
        NewsItem(item_id=item_id, text=plan.text, image_paths=(path,), label=plan.label,
                 event=plan.event.event_id, language=language,
                 source_text=plan.source_text,
                 source_image_paths=(paths[plan.source_index],) if plan.source_index is not None else (),
                 emotion=plan.drawn.emotion)
        for plan, item_id, path in zip(plans, item_ids, paths)
    ]
    event_ids = sorted({item.event for item in items if item.event is not None})
    rng = np.random.default_rng([seed, 7])
    n_test = max(1, round(TEST_EVENT_FRACTION * len(event_ids)))
    test_events = {event_ids[i] for i in rng.permutation(len(event_ids))[:n_test]}
    test = [item for item in items if item.event in test_events]
    pool = [item for item in items if item.event not in test_events]
    train, validation = event_split(pool, validation_fraction, seed)
    kinds: dict[str, int] = {}
    for plan in plans:
        if plan.fake_kind:
            kinds[plan.fake_kind] = kinds.get(plan.fake_kind, 0) + 1
    notes = [
        f"synthetic data (procedurally drawn images and generated {language} captions), not a real "
        f"corpus: numbers on it say nothing about the papers' claims",
        f"generator v{GENERATOR_VERSION}, seed {seed}, {n_items} items in {len(event_ids)} events; test = "
        f"{len(test_events)} held-out events, validation carved from training by event "
        f"(fraction {validation_fraction})",
        "fake kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
    ]
    if with_source:
        notes.append("background knowledge: each post's source is an earlier faithful report on its event")
    return DatasetSplits(name=name, train=train, validation=validation, test=test, source="synthetic",
                         root=image_dir.parent, problems=[], language=language, notes=notes,
                         split_policy="synthetic-event")  # fixed by the generator; --split does not apply


# ------------------------------------------------------------------------------ registered sizes
SIZES: dict[str, tuple[int, str]] = {
    "synthetic-tiny": (160, "en"),
    "synthetic-demo": (2000, "en"),
    "synthetic-weibo-tiny": (160, "zh"),
    "synthetic-weibo": (2000, "zh"),
}


def load_registered(name: str, root: Path | None, options: LoadOptions) -> DatasetSplits:
    """Loader behind the registered synthetic sets (``root`` is unused: nothing is read from disk)."""
    n_items, language = SIZES[name]
    return make_synthetic(name, n_items, options.seed, options.workdir, language,
                          validation_fraction=options.validation_fraction)


def _spec(name: str) -> DatasetSpec:
    n_items, language = SIZES[name]
    flavour = "English captions (Twitter-like)" if language == "en" else "Chinese captions (Weibo-like)"
    purpose = "for CI and smoke runs" if n_items < 500 else "for demos and quick comparisons"
    return DatasetSpec(
        name=name, loader=functools.partial(load_registered, name), folder=None,
        description=f"synthetic: {n_items} drawn images with {flavour}, events split like MediaEval, "
                    f"real cross-modal inconsistencies in fakes; {purpose}",
        language=language, kind="synthetic", has_events=True, has_source=False,
        licence="generated by this project (same licence as the code)", published_at="generated",
        tags=("synthetic", language))


DATASET_SPECS: tuple[DatasetSpec, ...] = tuple(_spec(name) for name in SIZES)
