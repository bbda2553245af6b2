"""The Python API: `enasim.run` simulates one workload on one chip, `enasim.load_results` reads
a results directory back. `enasim run` on the command line is a thin layer over `run`.

Both return a `Result` whose fields mirror the result files (docs/outputs.md), so code written
against a fresh run works on a stored one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enasim.config import HardwareConfig
from enasim.config.loader import SET_SOURCE, load, parse_set, resolve_path
from enasim.config.schema import ACCOUNTINGS, ENGINES, NOC_MODELS
from enasim.errors import ConfigError
from enasim.fileio import TRACE_LIMIT, check_result_dir, parse_json_text, read_text
from enasim.validate import expect_seed
from enasim.workload import Network, load_workload

ACTIVITIES = ("assumed", "measured")
NOT_MEASURED = ("not measured: the run charged time and energy without computing the network "
                "(--activity measured or `enasim infer` measure it)")


@dataclass(frozen=True)
class Result:
    """A run's results: `summary` is summary.json; `layers`, `components`, `noc` and `links`
    are the rows of the CSV files as dicts (`noc`/`links` are None for the analytical engine).
    `out_dir` is where the files are (None if nothing was written); `stats` and `mapping` are
    the engine's objects, only for a run made in this process."""

    summary: dict[str, Any]
    layers: list[dict[str, Any]]
    components: list[dict[str, Any]]
    noc: list[dict[str, Any]] | None
    links: list[dict[str, Any]] | None
    out_dir: Path | None
    stats: Any = None
    mapping: Any = None


def run(hw: str | Path | HardwareConfig = "flash_imc", workload: str | Path | Network = "vgg8",
        *, overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        engine: str = "sim", noc: str | None = None, accounting: str | None = None,
        activity: str = "assumed",
        weights: str | Path | None = None, inputs: str | Path | None = None,
        images: int | None = None, seed: int = 0, out: str | Path | None = None,
        plots: bool = False, trace_ces: bool = False,
        progress: Callable[[int, int], None] | None = None) -> Result:
    """Simulate `workload` (zoo name, YAML file or Network) on `hw` (bundled name, hwconfig file
    or HardwareConfig) and return its results; with `out`, also write the result files there.

    `overrides` sets hwconfig fields by dotted name ({"adc.bits": 5}), as `--set` does. The
    other arguments are those of `enasim run`; combinations that would do nothing are refused
    with a ConfigError naming the flag. `images` (default 1) run through the chip one after
    another (pipelined: overlapping, see docs/models.md); with `activity="measured"` they are
    also the images the activity is measured on (default: as many as `inputs` holds).
    `accounting` sets timing.accounting: 'neurosim' is NeuroSim's serial per-layer sum over its
    H-tree, 'overlapped' enasim's schedules on a mesh (with `noc` as that mesh; the analytical
    engine's mesh is the ideal one)."""
    from enasim.functional.probe import range_probe
    from enasim.mapping import map_network
    from enasim.report.files import RESULT_FILES, result_tables, summary_dict, write_results

    _check_options(engine, noc, accounting, activity, weights, inputs, images, out, plots,
                   trace_ces, progress)
    expect_seed(seed, "", "--seed")
    if isinstance(overrides, str):
        overrides = [overrides]
    sets = list(overrides.items() if isinstance(overrides, Mapping) else overrides or ())
    sets = [parse_set([item])[0] if isinstance(item, str) else item for item in sets]
    if isinstance(hw, HardwareConfig):
        if sets or accounting is not None:
            raise ConfigError(SET_SOURCE, "", "overrides and --accounting apply to a hwconfig "
                              "file or bundled name, not to a HardwareConfig object (use "
                              "dataclasses.replace)")
        cfg, source = hw, "<HardwareConfig>"
    else:
        path = resolve_path(hw, source="", field="--hw")
        if accounting is not None:
            sets += accounting_sets(path, sets, accounting, engine, noc)
        cfg, source = load(path, sets), str(path)
    if cfg.timing.accounting == "neurosim" and (images or 1) != 1:
        raise ConfigError("", "--images", "NeuroSim's accounting covers one image; stream "
                          "images under enasim's timing with --accounting overlapped --noc MODEL")
    net = workload if isinstance(workload, Network) else load_workload(workload)
    if out is not None:
        check_result_dir(out, RESULT_FILES)
    mapping = map_network(net, cfg)
    measured = None
    if activity == "measured":
        from enasim.functional.data import weights_and_images
        from enasim.functional.inference import run_inference

        w, x = weights_and_images(net, cfg, weights, inputs, images, seed)
        inference = run_inference(net, cfg, w, x, seed)
        measured = inference.activity()
        act = {"mode": "measured", "weights": str(weights or "random"),
               "inputs": str(inputs or "random"), "images": int(x.shape[0])}
        images = int(x.shape[0])
        functional = {"rel_rms_error": inference.layers[-1].e2e_rel_rms_error}
    else:
        act = {"mode": "assumed", "input_bit_density": cfg.activity.input_bit_density}
        functional = {"rel_rms_error": None, "reason": NOT_MEASURED}
    functional["adc_range_probe"] = range_probe(cfg, seed).as_dict()
    if engine == "sim":
        from enasim.sim import Simulator

        stats = Simulator(mapping, progress=progress, trace_ces=trace_ces, noc_model=noc,
                          activity=measured, images=images or 1).run()
    else:
        from enasim.analytical import run_analytical

        stats = run_analytical(mapping, measured, images or 1)
    info = {"hw_source": source, "seed": seed, "overrides": [f"{k}={v}" for k, v in sets],
            "activity": act, "functional": functional}
    texts = result_tables(stats, cfg)
    if out is None:
        summary = summary_dict(stats, mapping, **info)
    else:
        summary = write_results(out, stats, mapping, **info, plots=plots, tables=texts)
    tables = {name: _parse_csv(text) for name, text in texts.items()}
    return Result(summary, tables["layers"], tables["components"], tables.get("noc"),
                  tables.get("links"), None if out is None else Path(out), stats, mapping)


def accounting_sets(path: Path, sets: list[tuple[str, Any]], accounting: str, engine: str,
                    noc: str | None) -> list[tuple[str, Any]]:
    """The hwconfig fields `--accounting` sets on the hwconfig at `path` (with `sets`):
    timing.accounting, and the interconnect that goes with it (NeuroSim's H-tree; for
    overlapped timing, --noc or the analytical engine's ideal mesh)."""
    if accounting == "neurosim":
        if noc is not None:
            raise ConfigError("", "--noc", "NeuroSim's accounting moves data over its H-tree; "
                              "a mesh model needs --accounting overlapped")
        return [("timing.accounting", "neurosim"), ("noc.model", "htree")]
    if engine == "analytical":
        return [("timing.accounting", "overlapped"), ("noc.model", "ideal")]
    out = [("timing.accounting", "overlapped"), *([("noc.model", noc)] if noc else [])]
    if noc is None:
        try:
            load(path, [*sets, *out])
        except ConfigError as exc:
            if exc.field != "noc.model":
                raise
            raise ConfigError("", "--accounting", "overlapped timing runs on a mesh and this "
                              "hwconfig's noc.model is 'htree': add --noc compiled, process or "
                              "ideal") from None
    return out


def _check_options(engine, noc, accounting, activity, weights, inputs, images, out, plots,
                   trace_ces, progress) -> None:
    """Refuse unknown values and flags that would be ignored."""
    for flag, value, choices in (("--engine", engine, ENGINES), ("--noc", noc, NOC_MODELS),
                                 ("--accounting", accounting, ACCOUNTINGS),
                                 ("--activity", activity, ACTIVITIES)):
        if value is not None and value not in choices:
            raise ConfigError("", flag, f"expected one of {', '.join(choices)}, got {value!r}")
    if engine == "analytical":
        for flag, given in (("--noc", noc is not None), ("--trace-ces", trace_ces),
                            ("progress", progress is not None)):
            if given:
                raise ConfigError("", flag, "applies to the event engine (--engine sim); the "
                                  "analytical engine has no interconnect model or timeline")
    if images is not None and (isinstance(images, bool) or not isinstance(images, int)
                               or images < 1):
        raise ConfigError("", "--images", f"expected an integer >= 1, got {images!r}")
    if activity == "assumed":
        for flag, value in (("--weights", weights), ("--inputs", inputs)):
            if value is not None:
                raise ConfigError("", flag, "applies with --activity measured")
    if plots and out is None:
        raise ConfigError("", "--plots", "plots are drawn from result files: give an output "
                          "directory")


def load_results(out_dir: str | Path) -> Result:
    """Read a results directory written by `enasim run` (or `run(..., out=DIR)`)."""
    out = Path(out_dir)
    if not (out / "summary.json").is_file():
        raise ConfigError(str(out), "", "not a results directory: no summary.json")
    summary = parse_json_text(read_text(out / "summary.json", kind="summary.json"),
                              str(out / "summary.json"))
    if not isinstance(summary, dict) or "engine" not in summary:
        raise ConfigError(str(out / "summary.json"), "", "expected the summary of a run")
    needed = ["layers", "components"] + (["noc", "links"] if summary["engine"] == "sim" else [])
    tables = {name: _read_csv(out / f"{name}.csv") for name in
              ("layers", "components", "noc", "links")}
    for name in needed:
        if not tables[name]:
            raise ConfigError(str(out / f"{name}.csv"), "", "missing or empty: the results "
                              "directory is incomplete")
    return Result(summary, tables["layers"], tables["components"], tables["noc"],
                  tables["links"], out)


def _read_csv(path: Path) -> list[dict[str, Any]] | None:
    return _parse_csv(read_text(path, TRACE_LIMIT, path.name)) if path.is_file() else None


def _parse_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows as dicts of numbers and text: the same values whether fresh or read back."""
    return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _number(text: str) -> int | float | str:
    """A CSV cell as written by enasim: an int, a float, or text (names, shapes)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
