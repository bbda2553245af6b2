"""Multi-objective Bayesian NAS for CIM on the block-CNN space, with enasim as hardware evaluator.

Each trial picks one configuration of `BlocksCnnSpace` (per slot: a type, "none" after slot 0,
and, for a block, its channels), builds the network, maps it on the chip and runs the analytical
engine or the event simulator for latency, energy and area; accuracy comes from a pluggable
evaluator. A choice with more than `max_pools` VGG blocks has its later VGG blocks turned into
MVGG (`BlocksCnnSpace.cap_pools`). The optimiser is optuna's multi-objective TPE, or random
search as a baseline, on the same encoding and trial budget.

Objectives (`OBJECTIVES`): `acc/latency` and `acc/energy` maximise accuracy and minimise the
latency or energy; `pareto` has the three; `weighted` maximises acc^a / (lat_ns^l * energy_uj^e)
for `weights` (a, l, e). The front and its hypervolume use the metrics of the objective
(all three for `weighted`), as minimisation: error = 1 - accuracy, and each cost divided by that
of the costliest network of the space (every slot RES at the widest channels, no pooling), so
the reference point is (1, 1[, 1]).

Accuracy (`load_accuracy`): `synthetic` (default) is a deterministic stand-in that predicts
nothing about real training: 0.10 + 0.85 * sqrt(1 - exp(-params / 300k))
* sqrt(1 - exp(-convs / 4)) * (0.8 + 0.05 * min(pools, 4)) - 0.01 * max(0, plain_blocks - 4),
clipped to [0, 1]: it saturates in parameters and depth (3x3 convolutions), rewards
downsampling and penalises deep plain (VGG/MVGG) stacks. `module:function` is called as
f(config) -> accuracy in [0, 1]; `FILE.csv` has columns `label,accuracy`.
`train[:DATASET][,epochs=E]` trains each network (`enasim.nas.accuracy`; DATASET digits by
default, E 1 by default) and takes its test top-1 accuracy; trained accuracies are cached in
the run's directory (`accuracy/`) by content, so a resumed or repeated run trains nothing twice.

Resumption: every evaluated trial is added to an optuna study in SQLite as it finishes; a rerun
loads them and continues to the requested count. The sampler of the k-th trial is a fresh one
seeded from (seed, k), so a resumed run draws the same trials as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from enasim.config import config_hash
from enasim.config.schema import HardwareConfig
from enasim.errors import ConfigError, EnasimError
from enasim.fileio import TABLE_LIMIT, read_text
from enasim.nas.accuracy import (
    TrainedAccuracy,
    TrainSpec,
    base_size,
    fitted_size,
    is_train_spec,
    parse_train_spec,
)
from enasim.nas.spaces.blocks_cnn import (
    TYPES,
    Block,
    BlocksCnnSpace,
    Config,
    blocks,
    build,
    label,
    pools,
)
from enasim.validate import expect_number, expect_seed, import_callable

STUDY_NAME = "monas"
SAMPLERS = ("tpe", "random")
EVALUATORS = ("sim", "analytical")
COSTS = ("latency_ns", "energy_uj")
ACCURACY_CACHE = "accuracy"  # trained accuracies, in the run's directory beside the study


@dataclass(frozen=True)
class Objective:
    """Values the optimiser sees (with directions) and the metrics of the front."""

    name: str
    values: tuple[str, ...]
    directions: tuple[str, ...]
    front: tuple[str, ...]


OBJECTIVES = {
    "acc/latency": Objective("acc/latency", ("accuracy", "latency_ns"),
                             ("maximize", "minimize"), ("accuracy", "latency_ns")),
    "acc/energy": Objective("acc/energy", ("accuracy", "energy_uj"),
                            ("maximize", "minimize"), ("accuracy", "energy_uj")),
    "pareto": Objective("pareto", ("accuracy", "latency_ns", "energy_uj"),
                        ("maximize", "minimize", "minimize"),
                        ("accuracy", "latency_ns", "energy_uj")),
    "weighted": Objective("weighted", ("score",), ("maximize",),
                          ("accuracy", "latency_ns", "energy_uj")),
}


@dataclass(frozen=True)
class Settings:
    """Everything that defines a search except its length (stored with the study)."""

    objective: str = "acc/latency"
    sampler: str = "tpe"
    seed: int = 0
    evaluator: str = "analytical"
    accuracy: str = "synthetic"
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    space: BlocksCnnSpace = field(default_factory=BlocksCnnSpace)

    def __post_init__(self):
        for flag, value, valid in (("--objective", self.objective, OBJECTIVES),
                                   ("--sampler", self.sampler, SAMPLERS),
                                   ("--evaluator", self.evaluator, EVALUATORS)):
            if value not in valid:
                raise ConfigError("", flag, f"expected one of {', '.join(valid)}, got {value!r}")
        expect_seed(self.seed, "", "--seed")
        if is_train_spec(self.accuracy):  # checked before any output directory is made
            parse_train_spec(self.accuracy)
        if len(self.weights) != 3 or any(not math.isfinite(w) or w < 0 for w in self.weights):
            raise ConfigError("", "--weights", f"expected three numbers >= 0 (accuracy, "
                              f"latency, energy), got {list(self.weights)}")

    @property
    def goal(self) -> Objective:
        return OBJECTIVES[self.objective]

    def record(self) -> dict[str, Any]:
        """JSON-able form, compared when a stored study is resumed."""
        return {"objective": self.objective, "sampler": self.sampler, "seed": self.seed,
                "evaluator": self.evaluator, "accuracy": self.accuracy,
                "weights": list(self.weights), "space": asdict(self.space) | {
                    "channels": list(self.space.channels)}}


# --- accuracy ---------------------------------------------------------------------------------

Accuracy = Callable[[Config], float]


def synthetic_accuracy(config: Config) -> float:
    """The default stand-in accuracy (see the module docstring): deterministic, not a model."""
    net_blocks = blocks(config)
    params = build(config).params
    convs = 2 * len(net_blocks)
    plain = sum(1 for b in net_blocks if b.type != "RES")
    acc = (0.10 + 0.85 * math.sqrt(1 - math.exp(-params / 300e3))
           * math.sqrt(1 - math.exp(-convs / 4)) * (0.8 + 0.05 * min(pools(config), 4))
           - 0.01 * max(0, plain - 4))
    return min(1.0, max(0.0, acc))


TRAIN_EPOCHS = 1.0  # default E of --accuracy train (docs/nas.md: 20 trials in minutes)


def load_accuracy(spec: str, seed: int = 0, cache_dir: str | Path | None = None) -> Accuracy:
    """`synthetic`, `train[:DATASET][,epochs=E]` (split seed `seed`, cache in `cache_dir`),
    `FILE.csv` (columns label,accuracy) or `module:function`."""
    if spec == "synthetic":
        return synthetic_accuracy
    if is_train_spec(spec):
        return trained_accuracy(parse_train_spec(spec, epochs=TRAIN_EPOCHS), seed, cache_dir)
    if spec.lower().endswith(".csv"):
        return _csv_accuracy(Path(spec))
    return import_callable(spec, "--accuracy", "'synthetic', FILE.csv or 'module:function'")


def trained_accuracy(spec: TrainSpec, seed: int, cache_dir: str | Path | None) -> Accuracy:
    """Test accuracy of each configuration's network trained on `spec.dataset`, built at the
    data's size (`enasim.nas.accuracy`)."""
    trained = TrainedAccuracy(spec.dataset, spec.epochs, seed, cache_dir)
    base = base_size(spec.dataset)

    def accuracy(config: Config) -> float:
        return trained(build(config, image_size=fitted_size(base, pools(config))))["accuracy"]

    return accuracy


def _csv_accuracy(path: Path) -> Accuracy:
    """The accuracies of a CSV with columns label,accuracy: one row per label, each a number
    in [0, 1]."""
    src = str(path)
    try:
        text = read_text(path, TABLE_LIMIT, "CSV table")
    except ConfigError as exc:  # name the flag that gave the file
        raise ConfigError(src, "--accuracy", exc.message) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    table: dict[str, float] = {}
    try:
        if not {"label", "accuracy"} <= set(reader.fieldnames or ()):
            raise ConfigError(src, "", f"expected columns label,accuracy, got "
                              f"{reader.fieldnames}")
        for row in reader:
            where = f"line {reader.line_num}"
            name, text = row["label"], row["accuracy"]
            if name is None or text is None:
                raise ConfigError(src, where, "expected a label and an accuracy")
            try:
                acc = float(text)
            except ValueError:
                raise ConfigError(src, f"{where}: accuracy", f"expected a number, got "
                                  f"{text!r}") from None
            expect_number(acc, src, f"{where}: accuracy", 0.0, 1.0)
            if name.strip() in table:
                raise ConfigError(src, f"{where}: label", f"{name.strip()!r} listed twice")
            table[name.strip()] = acc
    except csv.Error as exc:
        raise ConfigError(src, "", f"malformed CSV: {exc}") from None

    def accuracy(config: Config) -> float:
        name = label(config)
        if name not in table:
            raise ConfigError(str(path), "label", f"no accuracy for network {name!r}: the CSV "
                              f"must list every network the search visits")
        return table[name]

    return accuracy


def checked_accuracy(fn: Accuracy, spec: str, config: Config) -> float:
    acc = fn(config)
    if isinstance(acc, bool) or not isinstance(acc, numbers.Real) or not 0 <= acc <= 1:
        raise ConfigError("", "--accuracy", f"{spec} returned {acc!r} for {label(config)}; "
                          f"expected a number in [0, 1]")
    return float(acc)


# --- hardware ---------------------------------------------------------------------------------


class HardwareCost:
    """Latency, energy and area of networks on one chip, cached by network label."""

    def __init__(self, hw: HardwareConfig, evaluator: str = "analytical"):
        self.hw, self.evaluator = hw, evaluator
        self.cache: dict[str, dict[str, float]] = {}

    def __call__(self, config: Config) -> dict[str, float]:
        # The engines load here, not with the module: `enasim monas --help` reads OBJECTIVES.
        from enasim.analytical import run_analytical
        from enasim.mapping import map_network
        from enasim.report.files import summary_dict
        from enasim.sim import Simulator

        key = label(config)
        if key not in self.cache:
            mapping = map_network(build(config), self.hw)
            stats = Simulator(mapping).run() if self.evaluator == "sim" \
                else run_analytical(mapping)
            s = summary_dict(stats, mapping, "", 0)
            self.cache[key] = {k: s[k] for k in ("latency_ns", "energy_uj", "area_mm2")}
        return self.cache[key]


# --- search -----------------------------------------------------------------------------------


def _optuna():
    """optuna, imported here so that the rest of enasim runs without the `nas` extra."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("", "monas", "the search needs optuna: pip install 'enasim[nas]'") \
            from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def suggest(trial, space: BlocksCnnSpace) -> Config:
    """One configuration from an optuna trial: `t{i}` type (or none), `c{i}` channels."""
    out: list[Block | None] = []
    for i in range(space.max_blocks):
        kind = trial.suggest_categorical(f"t{i}", TYPES if i == 0 else ("none", *TYPES))
        out.append(None if kind == "none"
                   else Block(kind, trial.suggest_categorical(f"c{i}", space.channels)))
    return space.cap_pools(tuple(out))


def _sampler(settings: Settings, k: int):
    optuna = _optuna()

    seed = random.Random(f"monas:{settings.seed}:{k}").getrandbits(32)
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # `multivariate` and `group` are flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Joint model of the slots; `group` splits it where a slot is empty (no channels).
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                          constant_liar=False)


def _values(goal: Objective, weights: Sequence[float], row: dict[str, float]) -> list[float]:
    if goal.name == "weighted":
        a, lw, ew = weights
        return [row["accuracy"] ** a / (row["latency_ns"] ** lw * row["energy_uj"] ** ew)]
    return [row[k] for k in goal.values]


@dataclass
class SearchResult:
    rows: list[dict[str, Any]]  # complete trials (`trial_rows`)
    failed: list[dict[str, Any]]  # trials the chip could not take (`failed_trials`)


def open_study(settings: Settings, storage: str | Path, hw: HardwareConfig):
    """The record of finished trials in SQLite file `storage`, created or resumed.

    A stored study is resumed only with the same settings and chip (config hash).
    """
    optuna = _optuna()

    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=STUDY_NAME, load_if_exists=True,
                                storage=f"sqlite:///{Path(storage).resolve()}",
                                directions=list(settings.goal.directions))
    record = json.loads(json.dumps(settings.record() | {"hwconfig_hash": config_hash(hw)}))
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", record)
    elif stored != record:
        diff = ", ".join(f"{k} {stored.get(k)!r} there, {v!r} here" for k, v in record.items()
                         if v != stored.get(k))
        raise ConfigError(str(storage), "settings", f"the stored study was run with other "
                          f"options ({diff}); use another output directory or the same options")
    return study


def run_search(settings: Settings, hw: HardwareConfig, trials: int,
               storage: str | Path | None = None, cost: HardwareCost | None = None,
               progress: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run (or continue) the search until `trials` trials are evaluated.

    The optimiser works on an in-memory study; each evaluated trial is then added to the
    SQLite study `storage` (one transaction), so a killed run loses only the trial in progress
    and a rerun reloads the stored ones. A trial whose network the chip cannot take
    (EnasimError from mapping or simulation) is stored as failed with its message and counts
    towards `trials`.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError("", "--trials", f"expected an integer >= 1, got {trials!r}")
    goal, space = settings.goal, settings.space
    accuracy = load_accuracy(settings.accuracy, settings.seed,  # bad arguments first,
                             Path(storage).parent / ACCURACY_CACHE  # missing optuna next
                             if storage is not None else None)
    optuna = _optuna()
    TrialState = optuna.trial.TrialState
    cost = cost or HardwareCost(hw, settings.evaluator)
    saved = open_study(settings, storage, hw) if storage is not None else None
    memory = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=STUDY_NAME, storage=memory,
                                directions=list(goal.directions))
    if saved is not None:
        study.add_trials(saved.get_trials(deepcopy=False))
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        cost.cache.setdefault(t.user_attrs["label"], {k: t.user_attrs[k] for k in
                                                      ("latency_ns", "energy_uj", "area_mm2")})
    done = len(study.trials)
    while done < trials:
        study = optuna.Study(STUDY_NAME, memory, sampler=_sampler(settings, done))
        trial = study.ask()
        config = suggest(trial, space)
        acc = checked_accuracy(accuracy, settings.accuracy, config)
        name = label(config)
        trial.set_user_attr("label", name)
        try:
            hw_row = cost(config)
        except EnasimError as exc:
            trial.set_user_attr("error", str(exc))
            finished = study.tell(trial, state=TrialState.FAIL)
        else:
            row = {"label": name, "accuracy": acc, **hw_row}
            for k, v in row.items():
                trial.set_user_attr(k, v)
            finished = study.tell(trial, _values(goal, settings.weights, row))
            if progress:
                progress({"trial": done + 1, **row})
        if saved is not None:
            saved.add_trial(finished)
        done += 1
    return SearchResult(trial_rows(study, settings), failed_trials(study))


def trial_rows(study, settings: Settings) -> list[dict[str, Any]]:
    """One row per complete trial; `number` counts evaluated trials (complete or failed)."""
    TrialState = _optuna().trial.TrialState

    rows = []
    for k, t in enumerate(study.get_trials(deepcopy=False)):
        if t.state != TrialState.COMPLETE:
            continue
        config = settings.space.decode(t.user_attrs["label"])
        net = build(config)
        rows.append({"number": k, "label": t.user_attrs["label"],
                     "blocks": len(blocks(config)), "pools": pools(config),
                     "params": net.params, "macs": net.macs,
                     **{m: t.user_attrs[m] for m in ("accuracy", *COSTS, "area_mm2")},
                     "objectives": ";".join(f"{v:.10g}" for v in t.values)})
    return rows


def failed_trials(study) -> list[dict[str, Any]]:
    """Trials whose network the chip could not take, with the message."""
    TrialState = _optuna().trial.TrialState

    return [{"number": t.number, "label": t.user_attrs["label"], "error": t.user_attrs["error"]}
            for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))]


# --- front and hypervolume --------------------------------------------------------------------


def reference_config(space: BlocksCnnSpace) -> Config:
    """The costliest network: every slot RES at the widest channels (no pooling)."""
    return (Block("RES", max(space.channels)),) * space.max_blocks


def minimised(row: dict[str, Any], metrics: Sequence[str], ref: dict[str, float]) -> tuple:
    """`row` on `metrics` as minimisation: 1 - accuracy, cost / reference cost."""
    return tuple(1.0 - row[m] if m == "accuracy" else row[m] / ref[m] for m in metrics)


def pareto_front(rows: list[dict[str, Any]], metrics: Sequence[str],
                 ref: dict[str, float]) -> list[dict[str, Any]]:
    """Non-dominated rows (first trial of each network label), in trial order."""
    points = [minimised(r, metrics, ref) for r in rows]
    front, seen = [], set()
    for r, p in zip(rows, points, strict=True):
        if r["label"] in seen:
            continue
        if not any(all(a <= b for a, b in zip(q, p, strict=True)) and q != p for q in points):
            front.append(r)
            seen.add(r["label"])
    return front


def hypervolume(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Volume dominated by `points` and bounded by `ref` (all objectives minimised).

    Points not strictly better than `ref` in every objective add nothing. Slices along the last
    objective, recursing down to a sweep over sorted 2-D rectangles.
    """
    pts = sorted({tuple(p) for p in points if all(x < r for x, r in zip(p, ref, strict=True))},
                 key=lambda p: p[-1])
    if not pts:
        return 0.0
    if len(ref) == 1:
        return ref[0] - pts[0][0]
    if len(ref) == 2:
        # Sweep up in y: the x-extent dominated so far, times the strip up to the next y.
        volume, best_x = 0.0, ref[0]
        for i, (x, y) in enumerate(pts):
            best_x = min(best_x, x)
            top = pts[i + 1][1] if i + 1 < len(pts) else ref[1]
            volume += (ref[0] - best_x) * (top - y)
        return volume
    volume = 0.0
    for i, p in enumerate(pts):
        top = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if top > p[-1]:
            volume += (top - p[-1]) * hypervolume([q[:-1] for q in pts[:i + 1]], ref[:-1])
    return volume


def front_stats(front: list[dict[str, Any]], space: BlocksCnnSpace) -> dict[str, Any]:
    """Block statistics of the front's networks: per block position and overall."""
    configs = [blocks(space.decode(r["label"])) for r in front]
    per_slot = []
    for i in range(space.max_blocks):
        here = [c[i] for c in configs if len(c) > i]
        per_slot.append({"position": i, **{t: sum(b.type == t for b in here) for t in TYPES},
                         "empty": len(configs) - len(here),
                         "mean_channels": (sum(b.channels for b in here) / len(here)
                                           if here else None)})
    all_blocks = [b for c in configs for b in c]
    n = len(front) or 1
    return {"networks": len(front),
            "mean_blocks": len(all_blocks) / n,
            "mean_pools": sum(r["pools"] for r in front) / n,
            "mean_channels": (sum(b.channels for b in all_blocks) / len(all_blocks)
                              if all_blocks else None),
            "mean_params": sum(r["params"] for r in front) / n,
            "type_counts": {t: sum(b.type == t for b in all_blocks) for t in TYPES},
            "per_position": per_slot}


def analyse(rows: list[dict[str, Any]], settings: Settings, cost: HardwareCost) -> dict[str, Any]:
    """Front, hypervolume (with its reference) and front statistics of a search's rows."""
    metrics = settings.goal.front
    ref_config = reference_config(settings.space)
    ref = cost(ref_config)
    front = pareto_front(rows, metrics, ref)
    hv = hypervolume([minimised(r, metrics, ref) for r in front], [1.0] * len(metrics))
    return {"metrics": list(metrics), "front": front, "hypervolume": hv,
            "reference": {"point": [1.0] * len(metrics), "network": label(ref_config),
                          **{m: ref[m] for m in metrics if m != "accuracy"},
                          "normalisation": "1 - accuracy; cost / cost of the reference network"},
            "front_stats": front_stats(front, settings.space)}


def hw_record(hw: HardwareConfig, source: str) -> dict[str, str]:
    return {"name": hw.name, "source": source, "hash": config_hash(hw)}
