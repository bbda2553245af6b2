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

from enasim.nas.spaces.supernet import Arch, Block, Supernet, SupernetOp, scale_channels
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


def _layer_geometry(
    stem: int = STEM_CHANNELS,
    stages: tuple[int, ...] = STAGE_CHANNELS,
    image_size: int = IMAGE_SIZE,
) -> list[tuple[int, int, int, int]]:
    """(block input channels, block output channels, stride, input H=W) of each choice layer."""
    out, c, h = [], stem, _halve(image_size)
    for oup, repeats in zip(stages, STAGE_REPEATS, strict=True):
        for i in range(repeats):
            stride = 2 if i == 0 else 1
            out.append((c, oup, stride, h))
            c, h = oup, _halve(h) if stride == 2 else h
    return out


def _halve(h: int) -> int:
    """The output size of a k x k convolution with stride 2 and padding k // 2 (odd k)."""
    return (h - 1) // 2 + 1


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

    h2 = _halve(h) if stride == 2 else h
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
    stem, head, classifier = net.pre[0].ops[0], net.post[0].ops[0], net.post[1].ops[0]
    b = NetworkBuilder(f"spos_{net.arch_str(arch)}", (3, stem.h_in, stem.w_in), source="spos")

    def conv(name: str, op: Conv2d, inputs: str | None = None) -> str:
        """A conv and, with `batchnorm`, the BN after it."""
        x = b.add(name, op, inputs)
        return b.add(f"{name}.bn", BatchNorm()) if batchnorm else x

    conv("first_conv", Conv2d(stem.c_out, (3, 3), 2, 1))
    x = b.add("first_conv.relu", Activation("relu"))
    for layer, choice in enumerate(arch):
        block, p = net.layers[layer][choice], f"L{layer}"
        stride = 2 if is_reduction(block) else 1
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
    conv("conv_last", Conv2d(head.c_out, (1, 1)), x)
    b.add("conv_last.relu", Activation("relu"))
    b.add("globalpool", Pool("avg", global_pool=True))
    b.add("classifier", Linear(classifier.c_out, bias=False))
    return b.build()


def is_reduction(block: Block) -> bool:
    """Whether a choice block has stride 2 (a projection branch instead of the split)."""
    return any(op.name.startswith("branch_proj") for op in block.ops)


def _bn_channels(net: Supernet, arch: Arch) -> int:
    """Every conv of the stand-alone SPOS model is followed by a BN (not the FC)."""
    return sum(o.c_out for o in net.subnet_ops(arch) if o.kind != "linear")


def build_supernet(width_mult: float = 1.0, image_size: int = IMAGE_SIZE,
                   num_classes: int = NUM_CLASSES) -> Supernet:
    """The SPOS supernet; at another `width_mult` every channel count c becomes
    `scale_channels(c, width_mult)`, at another `image_size` every map shrinks accordingly
    (the CPU-scale supernets of `enasim enasa train`)."""
    stem, head = (scale_channels(c, width_mult) for c in (STEM_CHANNELS, HEAD_CHANNELS))
    stages = tuple(scale_channels(c, width_mult) for c in STAGE_CHANNELS)
    geometry = _layer_geometry(stem, stages, image_size)
    layers = tuple(tuple(_choice_block(i, c, *geo) for c in range(len(CHOICE_NAMES)))
                   for i, geo in enumerate(geometry))
    c_in, c_out, stride, h = geometry[-1]
    pre = (_fixed("first_conv", "conv", 3, stem, 3, 2, image_size),)
    post = (_fixed("conv_last", "pwconv", c_out, head, 1, 1, _halve(h) if stride == 2 else h),
            _fixed("classifier", "linear", head, num_classes, 1, 1, 1))
    return Supernet("spos", CHOICE_NAMES, pre, layers, post, _build, _bn_channels)


SPOS = build_supernet()
