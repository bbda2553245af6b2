"""SPOS supernet (Guo et al., ECCV 2020; megvii-model/SinglePathOneShot), nas-workloads.md 2.1.

Stem 3x3 conv s2 (3->16) at 224x224, 20 choice blocks in 4 stages (4, 4, 8, 4 blocks; 64, 160,
320, 640 channels; the first block of a stage has stride 2), 1x1 conv 640->1024, 7x7 average
pool, FC 1024->1000 without bias. Choices: 0/1/2 = ShuffleNetV2 unit with a 3x3/5x5/7x7
depthwise kernel, 3 = Xception-like unit (3 x [dw 3x3 + pw]). A stride-1 block splits its input
by channel shuffle (half to a bypass, half to the main branch) and concatenates; a stride-2
block runs a projection branch (dw k x k s2 + pw) beside the main branch. BN is folded into the
convs; ReLU follows every pw conv (and the stem and head convs).
"""

from __future__ import annotations

from enasim.nas.spaces.supernet import Arch, Block, Supernet, SupernetOp
from enasim.workload.ir import (
    Activation,
    BatchNorm,
    Concat,
    Conv2d,
    Linear,
    Network,
    NetworkBuilder,
    Pool,
    Select,
)

CHOICE_NAMES = ("shufflenet_3x3", "shufflenet_5x5", "shufflenet_7x7", "xception_3x3")
STAGE_CHANNELS = (64, 160, 320, 640)
STAGE_REPEATS = (4, 4, 8, 4)
STEM_CHANNELS = 16
HEAD_CHANNELS = 1024
NUM_CLASSES = 1000
IMAGE_SIZE = 224
FLOPS_LIMIT_MACS = 330_000_000  # SPOS search constraint (src/Search/search.py)


def _layer_geometry() -> list[tuple[int, int, int, int]]:
    """(block input channels, block output channels, stride, input H=W) of each choice layer."""
    out, c, h = [], STEM_CHANNELS, IMAGE_SIZE // 2
    for oup, repeats in zip(STAGE_CHANNELS, STAGE_REPEATS, strict=True):
        for i in range(repeats):
            stride = 2 if i == 0 else 1
            out.append((c, oup, stride, h))
            c, h = oup, h // stride
    return out


GEOMETRY = _layer_geometry()


def _choice_block(layer: int, choice: int, c: int, oup: int, stride: int, h: int) -> Block:
    inp = c if stride == 2 else c // 2
    mid, main_out = oup // 2, oup - (c if stride == 2 else c // 2)
    ops: list[SupernetOp] = []
    after: list[tuple[int, ...]] = []

    def op(branch, index, kind, cin, cout, k, s, hin, prev):
        groups = cin if kind == "dwconv" else 1
        ops.append(SupernetOp("choice", layer, choice, f"{branch}.{index}", kind, cin, cout,
                              groups, k, s, k // 2, hin, hin))
        after.append(() if prev is None else (prev,))
        return len(ops) - 1

    h2 = h // stride
    if choice < 3:
        k = 3 + 2 * choice
        a = op("branch_main", 0, "pwconv", inp, mid, 1, 1, h, None)
        a = op("branch_main", 3, "dwconv", mid, mid, k, stride, h, a)
        op("branch_main", 5, "pwconv", mid, main_out, 1, 1, h2, a)
    else:
        k = 3
        a = op("branch_main", 0, "dwconv", inp, inp, 3, stride, h, None)
        a = op("branch_main", 2, "pwconv", inp, mid, 1, 1, h2, a)
        a = op("branch_main", 5, "dwconv", mid, mid, 3, 1, h2, a)
        a = op("branch_main", 7, "pwconv", mid, mid, 1, 1, h2, a)
        a = op("branch_main", 10, "dwconv", mid, mid, 3, 1, h2, a)
        op("branch_main", 12, "pwconv", mid, main_out, 1, 1, h2, a)
    if stride == 2:
        a = op("branch_proj", 0, "dwconv", inp, inp, k, 2, h, None)
        op("branch_proj", 2, "pwconv", inp, inp, 1, 1, h2, a)
    return Block(f"L{layer}.{CHOICE_NAMES[choice]}", tuple(ops), tuple(after))


def _fixed(section: str, kind: str, cin: int, cout: int, k: int, s: int, h: int) -> Block:
    op = SupernetOp(section, None, None, "0", kind, cin, cout, 1, k, s, k // 2, h, h)
    return Block(section, (op,), ((),))


def _build(net: Supernet, arch: Arch, batchnorm: bool) -> Network:
    b = NetworkBuilder(f"spos_{net.arch_str(arch)}", (3, IMAGE_SIZE, IMAGE_SIZE), source="spos")

    def conv(name: str, op: Conv2d, inputs: str | None = None) -> str:
        """A conv and, with `batchnorm`, the BN after it."""
        x = b.add(name, op, inputs)
        return b.add(f"{name}.bn", BatchNorm()) if batchnorm else x

    conv("first_conv", Conv2d(STEM_CHANNELS, (3, 3), 2, 1))
    x = b.add("first_conv.relu", Activation("relu"))
    for layer, (choice, geo) in enumerate(zip(arch, GEOMETRY, strict=True)):
        block, stride, p = net.layers[layer][choice], geo[2], f"L{layer}"
        if stride == 1:
            half = b.shape(x)[0] // 2
            bypass = b.add(f"{p}.split_bypass", Select(half), x)
            src = b.add(f"{p}.split_main", Select(half), x)
        else:
            src = x
        outs: dict[str, str] = {}
        for op in block.ops:
            branch = op.name.split(".")[0]
            prev = outs.get(branch, src)
            groups = op.c_in if op.kind == "dwconv" else 1
            name = conv(f"{p}.{op.name}", Conv2d(op.c_out, (op.k, op.k), op.stride, op.pad,
                                                  groups), prev)
            if op.kind == "pwconv":
                name = b.add(f"{p}.{op.name}.relu", Activation("relu"))
            outs[branch] = name
        first = outs["branch_proj"] if stride == 2 else bypass
        x = b.add(f"{p}.concat", Concat(), [first, outs["branch_main"]])
    conv("conv_last", Conv2d(HEAD_CHANNELS, (1, 1)), x)
    b.add("conv_last.relu", Activation("relu"))
    b.add("globalpool", Pool("avg", global_pool=True))
    b.add("classifier", Linear(NUM_CLASSES, bias=False))
    return b.build()


def _bn_channels(net: Supernet, arch: Arch) -> int:
    """Every conv of the stand-alone SPOS model is followed by a BN (not the FC)."""
    return sum(o.c_out for o in net.subnet_ops(arch) if o.kind != "linear")


def build_supernet() -> Supernet:
    layers = tuple(tuple(_choice_block(i, c, *geo) for c in range(len(CHOICE_NAMES)))
                   for i, geo in enumerate(GEOMETRY))
    last = STAGE_CHANNELS[-1]
    pre = (_fixed("first_conv", "conv", 3, STEM_CHANNELS, 3, 2, IMAGE_SIZE),)
    post = (_fixed("conv_last", "pwconv", last, HEAD_CHANNELS, 1, 1, 7),
            _fixed("classifier", "linear", HEAD_CHANNELS, NUM_CLASSES, 1, 1, 1))
    return Supernet("spos", CHOICE_NAMES, pre, layers, post, _build, _bn_channels)


SPOS = build_supernet()
