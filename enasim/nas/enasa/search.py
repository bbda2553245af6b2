"""ENASA's NAS loop: candidate generation, fitness, and hardware cost from the supernet chip.

Searches (one *generation* = one NAS iteration's candidates, evaluated in groups of `group`
sub-nets on the chip, in generation order):

* `evolution`: SPOS's evolutionary search (`src/Search/search.py` defaults, nas-workloads.md
  2.1): 50 random legal candidates, then 20 times: top-10 over everything evaluated, 25
  mutations (parent uniform from the top-10, each layer redrawn with p = 0.1), 25 crossovers
  (two parents uniform from the top-10, each layer from either with p = 1/2), filled with random
  legal candidates to 50. A candidate above the FLOPs limit or already evaluated is rejected;
  mutation and crossover each stop after 10 x their count draws. 50 + 20 x 50 = 1,050
  evaluations.
* `stagewise`: ENASA's variant: the same, but the generation controller replaces half of the
  layers of every new candidate with the current best's, the bottom half in odd generations and
  the top half in even ones (nas-workloads.md 7 default), so a group shares those layers.
* `random`: every generation 50 uniform random legal candidates.
* `fair`: every generation FairNAS strict-fair groups (per layer a random permutation of the
  choices), so a window of C sub-nets uses every operator once; no FLOPs limit (it would
  break the fairness).

Fitness is higher-is-better and pluggable: `module:function` called as
`function(space_name, arch) -> float`; `supernet:CHECKPOINT`, the test top-1 accuracy (%) of the
sub-net with weights inherited from a supernet `enasim enasa train` wrote
(`enasim.nas.enasa.supernet_train`); or the default `synthetic` function, a deterministic
stand-in: a seeded per-(layer, choice) table plus an interaction of neighbouring layers, scaled
like a top-1 accuracy (%). It predicts nothing. Each sub-net is rated once per search (the
ratings are checkpointed, so a resumed search does not rate again).

State is checkpointed as JSON after every generation (atomically); an `EnasaSearch` made with
the same checkpoint path and parameters continues from the last completed generation and gives
the same result as an uninterrupted run. A generation's groups are simulated on `workers`
processes (`simulate_group`), their totals summed in group order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enasim.config.schema import NOC_MODELS
from enasim.errors import ConfigError, EnasimError
from enasim.fileio import atomic_write
from enasim.nas.enasa.groups import fix_half, fixed_layers, strict_fair_group
from enasim.nas.spaces.supernet import Arch, Supernet
from enasim.validate import import_callable

if TYPE_CHECKING:  # numpy and the simulator load when a search runs, not with SEARCHES
    import numpy as np

    from enasim.mapping.supernet import SupernetChip

SEARCHES = ("stagewise", "evolution", "random", "fair")
Fitness = Callable[[str, Arch], float]
SUPERNET_PREFIX = "supernet:"
CHECKPOINT_VERSION = 2  # 2: the NoC model is part of the search


@dataclass(frozen=True)
class SearchConfig:
    """Parameters of one search; SPOS's defaults."""

    search: str = "stagewise"
    group: int = 4
    images: int = 1
    population: int = 50
    generations: int = 20  # after the initial population
    top_k: int = 10
    mutations: int = 25
    crossovers: int = 25
    mutation_prob: float = 0.1
    flops_limit: int | None = 330_000_000
    seed: int = 0
    fitness: str = "synthetic"
    baselines: bool = True  # also simulate each group sequentially and without sharing
    noc: str | None = None  # interconnect model of the group runs (None: the hwconfig's)

    def check(self, net: Supernet) -> None:
        src = "search"
        if self.search not in SEARCHES:
            raise ConfigError(src, "search", f"expected one of {', '.join(SEARCHES)}, got "
                              f"{self.search!r}")
        if self.noc is not None and self.noc not in NOC_MODELS:
            raise ConfigError(src, "noc", f"expected one of {', '.join(NOC_MODELS)}, got "
                              f"{self.noc!r}")
        for name in ("group", "images", "population", "top_k"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(src, name, f"expected an integer >= 1, got {v!r}")
        for name in ("generations", "mutations", "crossovers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(src, name, f"expected an integer >= 0, got {v!r}")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise ConfigError(src, "mutation_prob", f"expected 0..1, got {self.mutation_prob}")
        if self.search == "fair" and self.group % net.num_choices:
            raise ConfigError(src, "group", f"strict-fair groups of {net.name} need a multiple "
                              f"of {net.num_choices} sub-nets, got {self.group}")
        if self.flops_limit is not None and self.search != "fair":
            floor = sum(min(b.macs for b in layer) for layer in net.layers) \
                + sum(b.macs for b in (*net.pre, *net.post))
            if self.flops_limit < floor:
                raise ConfigError(src, "flops_limit", f"{self.flops_limit} is below the "
                                  f"smallest {net.name} sub-net ({floor} MACs)")


def synthetic_fitness(seed: int = 0) -> Fitness:
    """The default deterministic fitness (see the module docstring)."""
    import numpy as np

    tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fitness(space: str, arch: Arch) -> float:
        if space not in tables:
            rng = np.random.default_rng([seed, sum(map(ord, space))])
            layers = len(arch)
            tables[space] = (rng.normal(0.0, 0.25, (layers, 8)),
                             rng.normal(0.0, 0.05, (layers, 8, 8)))
        unary, pair = tables[space]
        score = 70.0 + float(sum(unary[i, c] for i, c in enumerate(arch)))
        score += float(sum(pair[i, a, b] for i, (a, b) in enumerate(zip(arch, arch[1:],
                                                                          strict=False))))
        return round(score, 6)

    return fitness


def load_fitness(spec: str, seed: int, space: str | None = None) -> Fitness:
    """`synthetic`, `supernet:CHECKPOINT` (a supernet `enasim enasa train` wrote, for `space`)
    or `module:function` importable from the current environment."""
    if spec == "synthetic":
        return synthetic_fitness(seed)
    if spec.startswith(SUPERNET_PREFIX):
        from enasim.train import require_torch

        require_torch()
        from enasim.nas.enasa.supernet_train import SupernetFitness

        return SupernetFitness(spec[len(SUPERNET_PREFIX):], space)
    return import_callable(spec, "--fitness",
                           "'synthetic', 'supernet:CHECKPOINT' or 'module:function'")


@dataclass
class SearchState:
    """Everything needed to continue a search: checkpointed after each generation."""

    generation: int = -1  # last completed (-1: none; 0: the initial population)
    rng_state: Any = None
    evaluated: dict[str, float] = field(default_factory=dict)  # arch string -> fitness
    order: list[str] = field(default_factory=list)  # evaluation order
    top: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # per-generation statistics
    last: list[str] = field(default_factory=list)  # candidates of the last generation


class EnasaSearch:
    """A search on one supernet chip; `run()` runs (or continues) it to the end."""

    def __init__(self, chip: SupernetChip, cfg: SearchConfig, fitness: Fitness | None = None,
                 checkpoint: str | Path | None = None, hw_hash: str = "", workers: int = 1):
        """`workers` processes simulate a generation's groups in parallel (the results do not
        depend on it)."""
        cfg.check(chip.net)
        self.workers = workers
        cfg = replace(cfg, noc=cfg.noc or chip.hw.noc.model)  # the checkpoint names the model
        self.chip, self.net, self.cfg = chip, chip.net, cfg
        self.fitness = fitness or load_fitness(cfg.fitness, cfg.seed, self.net.name)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.identity = {"version": CHECKPOINT_VERSION, "space": self.net.name,
                         "config": cfg.__dict__, "hw": hw_hash,
                         "depthwise": chip.depthwise}
        if hasattr(self.fitness, "identity"):  # e.g. a supernet checkpoint's SHA-256
            self.identity["fitness_identity"] = self.fitness.identity
        self.state = SearchState()
        self.rng = random.Random(cfg.seed)
        self.resumed_from = -1
        if self.checkpoint and self.checkpoint.is_file():
            self._load()

    # -- checkpoints -------------------------------------------------------------------------

    def _load(self) -> None:
        path = str(self.checkpoint)
        try:
            data = json.loads(self.checkpoint.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(path, "", f"unreadable checkpoint: {exc}") from None
        found = data.get("identity") if isinstance(data, dict) else None
        if isinstance(found, dict) and found.get("version") != CHECKPOINT_VERSION:
            raise ConfigError(path, "identity", f"the checkpoint was written by another enasim "
                              f"(format {found.get('version')}, this one reads "
                              f"{CHECKPOINT_VERSION}); use another output directory or delete it")
        if found != json.loads(json.dumps(self.identity)):
            raise ConfigError(path, "identity", "the checkpoint belongs to a different search "
                              "(space, parameters, hwconfig, NoC model or depthwise mapping); use "
                              "another output directory or delete it")
        s = data["state"]
        version, internal, gauss = s["rng_state"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.state = SearchState(s["generation"], None, dict(s["evaluated"]), list(s["order"]),
                                 list(s["top"]), list(s["rows"]), list(s["last"]))
        self.resumed_from = self.state.generation

    def _save(self) -> None:
        if self.checkpoint is None:
            return
        st = self.state
        state = {"generation": st.generation, "rng_state": self.rng.getstate(),
                 "evaluated": st.evaluated, "order": st.order, "top": st.top, "rows": st.rows,
                 "last": st.last}
        atomic_write(self.checkpoint, json.dumps({"identity": self.identity, "state": state},
                                                 separators=(",", ":")) + "\n")

    # -- candidate generation ----------------------------------------------------------------

    def _legal(self, arch: Arch, taken: set[str]) -> bool:
        key = self.net.arch_str(arch)
        if key in self.state.evaluated or key in taken:
            return False
        limit = self.cfg.flops_limit
        return self.cfg.search == "fair" or limit is None or self.net.macs(arch) <= limit

    def _random_arch(self) -> Arch:
        return tuple(self.rng.randrange(self.net.num_choices) for _ in range(self.net.num_layers))

    def _controlled(self, arch: Arch, generation: int) -> Arch:
        """Stage-wise generation controller: fix half of the layers to the current best's."""
        if self.cfg.search != "stagewise" or not self.state.top:
            return arch
        best = tuple(int(c) for c in self.state.top[0])
        return fix_half(arch, best, fixed_layers(self.net, self.half(generation)))

    @staticmethod
    def half(generation: int) -> str:
        return "bottom" if generation % 2 else "top"

    def _fill_random(self, out: list[Arch], taken: set[str], generation: int) -> None:
        tries = 0
        while len(out) < self.cfg.population:
            arch = self._controlled(self._random_arch(), generation)
            tries += 1
            if self._legal(arch, taken):
                out.append(arch)
                taken.add(self.net.arch_str(arch))
            elif tries > 1000 * self.cfg.population:
                raise ConfigError("search", "population", f"cannot find {self.cfg.population} "
                                  f"new legal candidates (space exhausted under the limits)")

    def candidates(self, generation: int) -> list[Arch]:
        """The candidates of `generation`, drawn from the search's RNG."""
        cfg, out, taken = self.cfg, [], set()
        if cfg.search == "fair":
            while len(out) < cfg.population:
                for arch in strict_fair_group(self.rng, self.net, cfg.group):
                    if len(out) < cfg.population:
                        out.append(arch)
            return out
        if cfg.search in ("evolution", "stagewise") and self.state.top:
            parents = [tuple(int(c) for c in a) for a in self.state.top]

            def mutate() -> Arch:
                p = self.rng.choice(parents)
                return tuple(self.rng.randrange(self.net.num_choices)
                             if self.rng.random() < cfg.mutation_prob else c for c in p)

            def cross() -> Arch:
                a, b = self.rng.choice(parents), self.rng.choice(parents)
                return tuple(x if self.rng.random() < 0.5 else y
                             for x, y in zip(a, b, strict=True))

            for make, count in ((mutate, cfg.mutations), (cross, cfg.crossovers)):
                made = 0
                for _ in range(10 * count):
                    if made == count:
                        break
                    arch = self._controlled(make(), generation)
                    if self._legal(arch, taken):
                        out.append(arch)
                        taken.add(self.net.arch_str(arch))
                        made += 1
        self._fill_random(out, taken, generation)
        return out[:cfg.population]

    # -- one generation ----------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        """Generate, evaluate and record the next generation; checkpoint."""
        cfg, st = self.cfg, self.state
        gen = st.generation + 1
        archs = self.candidates(gen)
        row = self.evaluate_generation(gen, archs)
        for arch in archs:
            key = self.net.arch_str(arch)
            if key not in st.evaluated:  # (resumed searches keep their fitness values)
                st.order.append(key)
                st.evaluated[key] = float(self.fitness(self.net.name, arch))
        ranked = sorted(set(st.top) | {self.net.arch_str(a) for a in archs},
                        key=lambda k: (-st.evaluated[k], k))
        st.top = ranked[:cfg.top_k]
        row["best_fitness"] = st.evaluated[st.top[0]]
        row["best_arch"] = st.top[0]
        st.rows.append(row)
        st.last = [self.net.arch_str(a) for a in archs]
        st.generation = gen
        self._save()
        return row

    def evaluate_generation(self, gen: int, archs: list[Arch]) -> dict[str, Any]:
        """Simulate the generation's groups on the chip (on `workers` processes); totals
        summed in group order, so they do not depend on the workers."""
        from enasim.config import config_hash
        from enasim.sweep.backends import local

        cfg, chip = self.cfg, self.chip
        modes = ("ops", "concurrent", "sequential") if cfg.baselines else ("ops",)
        groups = [tuple(archs[i:i + cfg.group]) for i in range(0, len(archs), cfg.group)]
        _CHIPS.clear()  # in-process runs use this chip (and its caches)
        _CHIPS[(chip.net.name, config_hash(chip.hw), chip.depthwise)] = chip
        tasks = [(g, m, chip.net, chip.hw, chip.depthwise, group, cfg.images, cfg.noc)
                 for g, group in enumerate(groups) for m in modes]

        def crashed(task, exc):
            raise EnasimError(f"generation {gen}: the worker simulating group {task[0]} "
                              f"({task[1]}) died ({exc}); rerun with fewer --workers or with "
                              f"--noc ideal (the mesh keeps every packet in memory)")

        figures = {(r["group"], r["mode"]): r
                   for r in local(simulate_group, tasks, self.workers, crashed)}
        tot = {m: {"cycles": 0, "energy_pj": 0.0, "busy": 0.0, "busy_dw": 0.0} for m in modes}
        shared = conflicts = computations = instances = 0
        for g in range(len(groups)):
            for m in modes:
                r, t = figures[(g, m)], tot[m]
                t["cycles"] += r["latency_cycles"]
                t["energy_pj"] += r["energy_pj"]
                t["busy"] += r["busy_array_cycles"]
                t["busy_dw"] += r["busy_depthwise_array_cycles"]
                if m == "ops":
                    shared += r["shared_ops"]
                    conflicts += r["conflicts"]
                    computations += r["computations"]
                    instances += r["op_instances"]
        period, dw_arrays = self.chip.hw.clock_period_ns, self.chip.depthwise_arrays
        ops = tot["ops"]
        row: dict[str, Any] = {
            "generation": gen, "candidates": len(archs),
            "groups": -(-len(archs) // cfg.group),
            "fixed_half": self.half(gen) if cfg.search == "stagewise" and gen > 0 else "",
            "chip_cycles": ops["cycles"],
            "subnets_per_s": len(archs) / (ops["cycles"] * period * 1e-9),
            "energy_per_subnet_uj": ops["energy_pj"] / len(archs) / 1e6,
            "crossbar_utilization": ops["busy"] / (self.chip.total_arrays * ops["cycles"]),
            "crossbar_utilization_depthwise": (
                ops["busy_dw"] / (dw_arrays * ops["cycles"]) if dw_arrays else 0.0),
            "op_instances": instances, "computations": computations,
            "shared_ops": shared, "conflicts": conflicts,
        }
        for m in modes[1:]:
            t = tot[m]
            row[f"{m}_cycles"] = t["cycles"]
            row[f"{m}_energy_per_subnet_uj"] = t["energy_pj"] / len(archs) / 1e6
            row[f"speedup_vs_{m}"] = t["cycles"] / ops["cycles"]
            row[f"energy_saving_vs_{m}"] = t["energy_pj"] / ops["energy_pj"]
        return row

    def run(self, on_generation: Callable[[dict[str, Any]], None] | None = None) -> SearchState:
        """Run the remaining generations (0 = the initial population ... `generations`)."""
        while self.state.generation < self.cfg.generations:
            row = self.step()
            if on_generation:
                on_generation(row)
        return self.state

    @property
    def best(self) -> Arch:
        return tuple(int(c) for c in self.state.top[0])


_CHIPS: dict[tuple, SupernetChip] = {}  # the chip of the search a process serves


def simulate_group(task: tuple) -> dict[str, Any]:
    """One group in one mode (a worker's task): the figures a generation's row sums."""
    from enasim.config import config_hash
    from enasim.mapping.supernet import SupernetChip
    from enasim.sim.ops import run_group

    g, mode, net, hw, depthwise, group, images, noc = task
    key = (net.name, config_hash(hw), depthwise)
    chip = _CHIPS.get(key)
    if chip is None or chip.net != net:
        _CHIPS.clear()  # a worker serves one search: keep its chip only
        chip = _CHIPS[key] = SupernetChip(net, hw, depthwise)
    r = run_group(chip, group, mode, images, noc)
    return {"group": g, "mode": mode, "latency_cycles": r.latency_cycles,
            "energy_pj": r.total_energy_pj, "busy_array_cycles": r.busy_array_cycles,
            "busy_depthwise_array_cycles": r.busy_depthwise_array_cycles,
            "shared_ops": r.shared_ops, "conflicts": r.conflicts,
            "computations": r.computations, "op_instances": r.op_instances}
