"""`enasim noc`: run the mesh NoC alone on synthetic traffic or a trace (BookSim2-style).

Kept free of heavy imports: numpy, the router models and numba load when the command runs.
"""

from __future__ import annotations

import io
import json

from enasim.config.schema import COMPILED_MAX_VCS
from enasim.errors import ConfigError
from enasim.fileio import atomic_write, check_output_file
from enasim.noc.settings import MODELS, PATTERNS, Measurement, throughput_mode
from enasim.validate import expect_int, expect_number, seed_arg

# Options of synthetic traffic only (a trace brings its packets and runs until all arrive), with
# their defaults; the parser leaves them None so that one given with --trace is an error.
SYNTHETIC = {"traffic": "uniform", "rate": 0.1, "packet_flits": 1, "seed": 0,
             "warmup_cycles": Measurement.warmup_cycles,
             "measure_cycles": Measurement.measure_cycles,
             "sample_cycles": Measurement.sample_cycles,
             "latency_threshold": Measurement.latency_threshold}
LATENCY_MODE = ("sample_cycles", "latency_threshold")  # not used by --throughput
# Router-cycles a run may simulate: the compiled model does a few million a second, so 1e10
# is most of an hour (the process model is slower still); longer runs are refused up front.
MAX_NODE_CYCLES = 10**10


def add_parser(sub) -> None:
    p = sub.add_parser("noc", help="simulate the mesh NoC on synthetic traffic or a trace")
    p.add_argument("--mesh", default="4x4", metavar="RxC",
                   help="mesh rows x columns (default: 4x4)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--traffic", choices=PATTERNS,
                     help=f"synthetic destination pattern (default: {SYNTHETIC['traffic']})")
    src.add_argument("--trace", metavar="FILE", help="trace file (csv, jsonl or BookSim JSON) "
                     "instead of synthetic traffic")
    p.add_argument("--format", choices=("booksim-json", "csv", "jsonl"),
                   help="with --trace: trace format (default: from the file suffix)")
    p.add_argument("--rate", type=float,
                   help=f"offered load, flits/node/cycle (default: {SYNTHETIC['rate']})")
    p.add_argument("--packet-flits", type=int,
                   help=f"flits per packet (default: {SYNTHETIC['packet_flits']})")
    p.add_argument("--vcs", type=int, default=4, help="virtual channels per port (default: 4)")
    p.add_argument("--vc-buf", type=int, default=8,
                   help="buffer depth per VC, flits (default: 8)")
    for stage in ("routing", "va", "sa", "st", "link"):
        p.add_argument(f"--{stage}-delay", type=int, default=1,
                       help=f"{stage} cycles (default: 1)")
    p.add_argument("--warmup-cycles", type=int,
                   help=f"cycles before measuring (default: {SYNTHETIC['warmup_cycles']})")
    p.add_argument("--measure-cycles", type=int,
                   help=f"cycles whose injected packets are measured (default: "
                        f"{SYNTHETIC['measure_cycles']})")
    p.add_argument("--sample-cycles", type=int,
                   help=f"period of the saturation check (default: "
                        f"{SYNTHETIC['sample_cycles']}; not with --throughput)")
    p.add_argument("--latency-threshold", type=float,
                   help=f"average latency above which the network counts as saturated "
                        f"(default: {SYNTHETIC['latency_threshold']:g}; not with --throughput)")
    p.add_argument("--throughput", action="store_true",
                   help="throughput mode: no saturation abort, no drain (for loads past "
                        "saturation)")
    p.add_argument("--seed", type=seed_arg,
                   help=f"random seed of the synthetic traffic (default: {SYNTHETIC['seed']})")
    p.add_argument("--model", choices=MODELS, default="compiled",
                   help="router model: compiled (Numba) or process (SimPy), identical results "
                        "(default: compiled)")
    p.add_argument("--packets-out", metavar="FILE.csv", help="write per-packet records")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_noc)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def synthetic_options(args) -> None:
    """Fill in the synthetic-traffic defaults; an option that the run would ignore is an
    error naming it."""
    given = [n for n in SYNTHETIC if getattr(args, n) is not None]
    if args.trace:
        ignored = [*given, *(["throughput"] if args.throughput else [])]
        if ignored:
            raise ConfigError("", _flag(ignored[0]), "applies to synthetic traffic, not --trace "
                              "(a trace brings its own packets and runs until all have arrived)")
        return
    if args.format:
        raise ConfigError("", "--format", "applies with --trace FILE")
    if args.throughput:
        for name in LATENCY_MODE:
            if name in given:
                raise ConfigError("", _flag(name), "applies to latency mode, not --throughput "
                                  "(which never aborts on saturation)")
    for name, value in SYNTHETIC.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def parse_mesh(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError("", "--mesh", f"expected ROWSxCOLS such as 4x4, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise ConfigError("", "--mesh", f"expected at least 1x1, got {text!r}")
    return rows, cols


def check_work(nodes: int, cycles: int, field: str) -> None:
    """Refuse a run of `cycles` cycles on `nodes` routers that would not finish in an hour."""
    if nodes * cycles > MAX_NODE_CYCLES:
        raise ConfigError("", field, f"{cycles:,} cycles on {nodes:,} routers is about "
                          f"{nodes * cycles:.3g} router-cycles, more than the "
                          f"{MAX_NODE_CYCLES:.0e} enasim runs; use fewer cycles or a smaller "
                          f"mesh")


def _check_ints(args, *names: str, minimum: int = 1) -> None:
    for name in names:
        expect_int(getattr(args, name), "", _flag(name), minimum)


def cmd_noc(args) -> int:
    from enasim.noc.measure import run_synthetic, run_trace
    from enasim.noc.router import RouterParams, check_mesh_memory
    from enasim.noc.traffic import CHUNK_CYCLES, SyntheticSource

    rows, cols = parse_mesh(args.mesh)
    synthetic_options(args)
    _check_ints(args, "vcs", "vc_buf", "va_delay", "sa_delay", "st_delay", "link_delay")
    _check_ints(args, "routing_delay", minimum=0)
    if not args.trace:
        _check_ints(args, "measure_cycles", "sample_cycles")
        _check_ints(args, "warmup_cycles", minimum=0)
        expect_number(args.latency_threshold, "", "--latency-threshold", 0.0, strict_min=True)
    if args.model == "compiled" and args.vcs > COMPILED_MAX_VCS:
        raise ConfigError("", "--vcs", f"expected at most {COMPILED_MAX_VCS} with --model "
                          f"compiled, got {args.vcs}; use --model process for more")
    if args.packets_out:
        check_output_file(args.packets_out, "--packets-out")
    params = RouterParams(rows, cols, args.vcs, args.vc_buf, args.routing_delay, args.va_delay,
                          args.sa_delay, args.st_delay, args.link_delay)
    traffic_bytes = 0 if args.trace else 2 * 8 * CHUNK_CYCLES  # two float64 draws per cycle
    check_mesh_memory(params, args.model, "--mesh", traffic_bytes)
    if args.trace:
        from enasim.noc.traces import read_trace

        packets = read_trace(args.trace, args.format, rows, cols)
        check_work(rows * cols, int(packets.cycle.max(initial=0)), "--trace")
        result, rec = run_trace(params, packets, args.model)
        result["trace"] = args.trace
    else:
        drain = 0 if args.throughput else Measurement.max_drain_cycles
        longest = "warmup_cycles" if args.warmup_cycles > args.measure_cycles else \
            "measure_cycles"
        check_work(rows * cols, args.warmup_cycles + args.measure_cycles + drain, _flag(longest))
        source = SyntheticSource(args.traffic, rows, cols, args.rate, args.packet_flits,
                                 args.seed)
        m = throughput_mode(args.warmup_cycles, args.measure_cycles) if args.throughput else \
            Measurement(args.warmup_cycles, args.measure_cycles, args.sample_cycles,
                        args.latency_threshold)
        result, packets, rec = run_synthetic(params, source, m, args.model, with_records=True)
        result.update(traffic=args.traffic, packet_flits=args.packet_flits, seed=args.seed)
    result["model"] = args.model
    if args.packets_out:
        atomic_write(args.packets_out, packets_csv(packets, rec))
    if args.json:
        print(json.dumps(result))
        return 0
    links = result.pop("links")
    for key, value in result.items():
        print(f"{key:22s} {value:.4g}" if isinstance(value, float) else f"{key:22s} {value}")
    busiest = max((lk["utilisation"] for lk in links), default=0.0)
    print(f"{'max_link_utilisation':22s} {busiest:.4g}")
    return 0


def packets_csv(packets, rec) -> str:
    """Per-packet records as CSV (cycles; latency = tail ejection - creation)."""
    import numpy as np

    buf = io.StringIO()
    buf.write("id,src,dst,flits,created,head_injected,tail_ejected,latency,hops\n")
    lat = np.where(rec.tail_ejected >= 0, rec.tail_ejected - rec.created, -1)
    cols = (packets.ids, packets.src, packets.dst, packets.flits, rec.created,
            rec.head_injected, rec.tail_ejected, lat, rec.hops)
    for row in zip(*(c.tolist() for c in cols), strict=True):
        buf.write(",".join(map(str, row)) + "\n")
    return buf.getvalue()
