"""FairNAS supernet (Chu et al., ICCV 2021; xiaomi-automl/FairNAS), nas-workloads.md 2.2-2.3.

Stem 3x3 conv s2 (3->32) + ReLU6, separable conv (dw 3x3 + ReLU6, pw 32->16), 19 choice layers
of MobileNetV2 inverted residuals, 1x1 conv 320->1280 + ReLU6, global mean pool, FC
1280->1000 with bias. Choice c (kernel-major, our convention): 0 k3e3, 1 k3e6, 2 k5e3, 3 k5e6,
4 k7e3, 5 k7e6. A block: pw c_in->round(c_in*t) + ReLU6, dw k x k stride s + ReLU6, pw ->c_out
(linear); the input is added iff stride 1 and c_in == c_out. BN is folded into the convs.
"""

from __future__ import annotations

from enasim.nas.spaces.supernet import Arch, Block, Supernet, SupernetOp
from enasim.workload.ir import (
    Activation,
    Add,
    BatchNorm,
    Conv2d,
    Linear,
    Network,
    NetworkBuilder,
    Pool,
)

KERNEL_EXPANSION = ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))
CHOICE_NAMES = tuple(f"k{k}_e{e}" for k, e in KERNEL_EXPANSION)
# (output channels, repeats, stride of the first) per stage, after the separable conv.
STAGES = ((32, 2, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
STEM_CHANNELS, SEPARABLE_OUT, HEAD_CHANNELS = 32, 16, 1280
NUM_CLASSES = 1000
IMAGE_SIZE = 224
# The authors' released FairNAS-A/B/C (models/FairNAS_{A,B,C}.py) as choice vectors in our
# convention; tests/test_enasa.py checks their MACs and parameters (nas-workloads.md 2.4).
MODELS = {"A": "4041500552122115153", "B": "2020124012014053513", "C": "2040000001000055113"}


def _layer_geometry() -> list[tuple[int, int, int, int]]:
    """(c_in, c_out, stride, input H=W) of each choice layer."""
    out, c, h = [], SEPARABLE_OUT, IMAGE_SIZE // 2
    for oup, repeats, first_stride in STAGES:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            out.append((c, oup, stride, h))
            c, h = oup, h // stride
    return out


GEOMETRY = _layer_geometry()


def _choice_block(layer: int, choice: int, c_in: int, c_out: int, stride: int, h: int) -> Block:
    k, t = KERNEL_EXPANSION[choice]
    hidden = round(c_in * t)

    def op(name, kind, cin, cout, kk, s, hin):
        return SupernetOp("choice", layer, choice, name, kind, cin, cout,
                          cin if kind == "dwconv" else 1, kk, s, kk // 2, hin, hin)

    ops = (op("expand_pw", "pwconv", c_in, hidden, 1, 1, h),
           op("dw", "dwconv", hidden, hidden, k, stride, h),
           op("project_pw", "pwconv", hidden, c_out, 1, 1, h // stride))
    return Block(f"L{layer}.{CHOICE_NAMES[choice]}", ops, ((), (0,), (1,)))


def residual(layer: int) -> bool:
    """Whether choice layer `layer` adds its input to its output."""
    c_in, c_out, stride, _ = GEOMETRY[layer]
    return stride == 1 and c_in == c_out


def _build(net: Supernet, arch: Arch, batchnorm: bool) -> Network:
    b = NetworkBuilder(f"fairnas_{net.arch_str(arch)}", (3, IMAGE_SIZE, IMAGE_SIZE),
                       source="fairnas")

    def conv(name: str, op: Conv2d, inputs: str | None = None) -> str:
        """A conv and, with `batchnorm`, the BN after it."""
        x = b.add(name, op, inputs)
        return b.add(f"{name}.bn", BatchNorm()) if batchnorm else x

    conv("stem.0", Conv2d(STEM_CHANNELS, (3, 3), 2, 1))
    b.add("stem.relu", Activation("relu6"))
    conv("separable_conv.0", Conv2d(STEM_CHANNELS, (3, 3), 1, 1, groups=STEM_CHANNELS))
    b.add("separable_conv.relu", Activation("relu6"))
    x = conv("separable_conv.3", Conv2d(SEPARABLE_OUT, (1, 1)))
    for layer, choice in enumerate(arch):
        block_in = x
        for op in net.layers[layer][choice].ops:
            groups = op.c_in if op.kind == "dwconv" else 1
            x = conv(f"L{layer}.{op.name}", Conv2d(op.c_out, (op.k, op.k), op.stride, op.pad,
                                                    groups))
            if op.name != "project_pw":
                x = b.add(f"L{layer}.{op.name}.relu", Activation("relu6"))
        if residual(layer):
            x = b.add(f"L{layer}.add", Add(), [block_in, x])
    conv("conv_before_pooling.0", Conv2d(HEAD_CHANNELS, (1, 1)), x)
    b.add("conv_before_pooling.relu", Activation("relu6"))
    b.add("globalpool", Pool("avg", global_pool=True))
    b.add("classifier.1", Linear(NUM_CLASSES, bias=True))
    return b.build()


def _bn_channels(net: Supernet, arch: Arch) -> int:
    """Every conv of the stand-alone FairNAS model is followed by a BN (not the FC)."""
    return sum(o.c_out for o in net.subnet_ops(arch) if o.kind != "linear")


def build_supernet() -> Supernet:
    layers = tuple(tuple(_choice_block(i, c, *geo) for c in range(len(CHOICE_NAMES)))
                   for i, geo in enumerate(GEOMETRY))
    h = IMAGE_SIZE // 2

    def fixed(section, name, kind, cin, cout, k, s, hin, bias=False):
        return SupernetOp(section, None, None, name, kind, cin, cout,
                          cin if kind == "dwconv" else 1, k, s, k // 2, hin, hin, bias)

    pre = (Block("stem", (fixed("stem", "0", "conv", 3, STEM_CHANNELS, 3, 2, IMAGE_SIZE),),
                 ((),)),
           Block("separable_conv",
                 (fixed("separable_conv", "0", "dwconv", STEM_CHANNELS, STEM_CHANNELS, 3, 1, h),
                  fixed("separable_conv", "3", "pwconv", STEM_CHANNELS, SEPARABLE_OUT, 1, 1, h)),
                 ((), (0,))))
    last = STAGES[-1][0]
    post = (Block("conv_before_pooling", (fixed("conv_before_pooling", "0", "pwconv", last,
                                                HEAD_CHANNELS, 1, 1, 7),), ((),)),
            Block("classifier", (fixed("classifier", "1", "linear", HEAD_CHANNELS, NUM_CLASSES,
                                       1, 1, 1, bias=True),), ((),)))
    return Supernet("fairnas", CHOICE_NAMES, pre, layers, post, _build, _bn_channels)


FAIRNAS = build_supernet()
