"""enasim's NAS search spaces against the shapes computed with the authors' own code
(enasim/reference/nas): every operator of the SPOS and FairNAS supernets, the SPOS reference
architectures, and FLASH's DenseNet-type networks with their NN-Mass and NN-Degree."""

from __future__ import annotations

from collections.abc import Iterator

from enasim.validation import Check, group, read_reference

OP_FIELDS = ("c_in", "c_out", "groups", "k", "stride", "pad", "h_in", "w_in", "h_out", "w_out",
             "macs", "weights")
TOPOLOGY = 1e-4  # NN-Mass and NN-Degree are printed to 4 decimals (absolute)


def op_key(space: str, row: dict[str, str]) -> str:
    """The supernet operator a reference row describes, as enasim names it."""
    if space == "spos":
        name = f"{row['branch']}.{row['op_index']}" if row["section"] == "choice" \
            else row["op_index"]
    else:
        name = row["op"] if row["section"] == "choice" else row["op"].split(".", 1)[1]
    if row["section"] == "choice":
        return f"L{row['layer']}.c{row['choice']}.{name}"
    return f"{row['section']}.{name}"


@group("nas")
def checks() -> Iterator[Check]:
    from enasim.nas.spaces.fairnas import FAIRNAS
    from enasim.nas.spaces.spos import SPOS

    for net, label, csv_name in ((SPOS, "SPOS", "spos_supernet_ops.csv"),
                                 (FAIRNAS, "FairNAS", "fairnas_supernet_ops.csv")):
        rows = read_reference("nas", csv_name)
        ops = {o.key: o for o in net.all_ops}
        same = sum(all(getattr(ops[k], f) == int(r[f]) for f in OP_FIELDS)
                   and ops[k].kind == r["kind"]
                   for r in rows if (k := op_key(net.name, r)) in ops)
        src = f"{label} supernet"
        yield Check(src, "operators", len(rows), len(ops), 0.0)
        yield Check(src, "operators with equal shape, MACs and weights", len(rows), same, 0.0)
        yield Check(src, "weights", sum(int(r["weights"]) for r in rows), net.total_weights,
                    0.0, headline=True)
    refs = read_reference("nas", "spos_reference_archs.csv")
    archs = [SPOS.check_arch(r["arch"]) for r in refs]
    yield Check("SPOS architectures", "reference architectures with equal MACs and parameters",
                len(refs), sum(SPOS.build(a).macs == int(r["flops_macs"])
                               and SPOS.params(a) == int(r["params_total"])
                               for a, r in zip(archs, refs, strict=True)), 0.0)
    yield from densenets()


def densenets() -> Iterator[Check]:
    from enasim.nas.spaces.densenet_flash import DenseNetSpec, build_densenet_flash

    src = "NN-Mass DenseNets"
    rows = read_reference("nas", "nnmass_densenet_summary.csv")
    specs = [DenseNetSpec(int(r["wm"]), (int(r["cell_depth"]),) * len(r["tc"].split(";")),
                          tuple(int(t) for t in r["tc"].split(";"))) for r in rows]
    nets = [build_densenet_flash(s.wm, s.depths, s.tcs) for s in specs]
    n = len(rows)
    yield Check(src, "networks with equal parameters and MACs", n,
                sum(x.params == int(r["params"]) and x.macs == int(r["macs"])
                    for x, r in zip(nets, rows, strict=True)), 0.0, headline=True)
    layers = read_reference("nas", "nnmass_densenet_layers.csv")
    yield Check(src, "layers with equal MACs and outputs (all networks)", len(layers),
                _equal_layers(layers), 0.0)
    yield Check(src, "networks with equal NN-Mass and NN-Degree (to 4 decimals)", n,
                sum(abs(s.nn_mass() - float(r["nn_mass"])) <= TOPOLOGY
                    and abs(s.nn_degree() - float(r["derived_nn_degree_edges"])) <= TOPOLOGY
                    for s, r in zip(specs, rows, strict=True)), 0.0)


def _equal_layers(rows: list[dict[str, str]]) -> int:
    from enasim.nas.spaces.densenet_flash import build_densenet_flash

    same = 0
    for config in sorted({r["config"] for r in rows}):
        ref = [r for r in rows if r["config"] == config]
        net = build_densenet_flash(int(ref[0]["wm"]), int(ref[0]["cell_depth"]),
                                   tuple(int(t) for t in ref[0]["tc"].split(";")))
        same += sum(node.macs == int(r["macs"]) and node.weight_cols == int(r["c_out"])
                    for node, r in zip(net.weight_layers, ref, strict=False))
    return same
