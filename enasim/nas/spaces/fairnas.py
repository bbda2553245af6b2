"""FairNAS supernet (Chu et al., ICCV 2021; xiaomi-automl/FairNAS), nas-workloads.md 2.2-2.3.

Stem 3x3 conv s2 (3->32) + ReLU6, separable conv (dw 3x3 + ReLU6, pw 32->16), 19 choice layers
of MobileNetV2 inverted residuals, 1x1 conv 320->1280 + ReLU6, global mean pool, FC
1280->1000 with bias. Choice c (kernel-major, our convention): 0 k3e3, 1 k3e6, 2 k5e3, 3 k5e6,
4 k7e3, 5 k7e6. A block: pw c_in->round(c_in*t) + ReLU6, dw k x k stride s + ReLU6, pw ->c_out
(linear); the input is added iff stride 1 and c_in == c_out. BN is folded into the convs.
"""

from __future__ import annotations

from enasim.nas.spaces.supernet import Arch, Block, Supernet, SupernetOp, scale_channels
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


def _layer_geometry(width_mult: float = 1.0,
                    image_size: int = IMAGE_SIZE) -> list[tuple[int, int, int, int]]:
    """(c_in, c_out, stride, input H=W) of each choice layer, channels scaled by
    `scale_channels`."""
    out, c, h = [], scale_channels(SEPARABLE_OUT, width_mult), _halve(image_size)
    for oup, repeats, first_stride in STAGES:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            out.append((c, scale_channels(oup, width_mult), stride, h))
            c, h = out[-1][1], _halve(h) if stride == 2 else h
    return out


def _halve(h: int) -> int:
    """The output size of a k x k convolution with stride 2 and padding k // 2 (odd k)."""
    return (h - 1) // 2 + 1


GEOMETRY = _layer_geometry()


def _choice_block(layer: int, choice: int, c_in: int, c_out: int, stride: int, h: int) -> Block:
    k, t = KERNEL_EXPANSION[choice]
    hidden = round(c_in * t)

    def op(name, kind, cin, cout, kk, s, hin):
        return SupernetOp("choice", layer, choice, name, kind, cin, cout,
                          cin if kind == "dwconv" else 1, kk, s, kk // 2, hin, hin)

    ops = (op("expand_pw", "pwconv", c_in, hidden, 1, 1, h),
           op("dw", "dwconv", hidden, hidden, k, stride, h),
           op("project_pw", "pwconv", hidden, c_out, 1, 1, _halve(h) if stride == 2 else h))
    return Block(f"L{layer}.{CHOICE_NAMES[choice]}", ops, ((), (0,), (1,)))


def residual(layer: int) -> bool:
    """Whether choice layer `layer` adds its input to its output (decided at full width, so
    that a narrower supernet whose rounding makes c_in == c_out keeps the topology)."""
    c_in, c_out, stride, _ = GEOMETRY[layer]
    return stride == 1 and c_in == c_out


def _build(net: Supernet, arch: Arch, batchnorm: bool) -> Network:
    stem, sep = net.pre[0].ops[0], net.pre[1].ops[1]
    head, classifier = net.post[0].ops[0], net.post[1].ops[0]
    b = NetworkBuilder(f"fairnas_{net.arch_str(arch)}", (3, stem.h_in, stem.w_in),
                       source="fairnas")

    def conv(name: str, op: Conv2d, inputs: str | None = None) -> str:
        """A conv and, with `batchnorm`, the BN after it."""
        x = b.add(name, op, inputs)
        return b.add(f"{name}.bn", BatchNorm()) if batchnorm else x

    conv("stem.0", Conv2d(stem.c_out, (3, 3), 2, 1))
    b.add("stem.relu", Activation("relu6"))
    conv("separable_conv.0", Conv2d(stem.c_out, (3, 3), 1, 1, groups=stem.c_out))
    b.add("separable_conv.relu", Activation("relu6"))
    x = conv("separable_conv.3", Conv2d(sep.c_out, (1, 1)))
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
    conv("conv_before_pooling.0", Conv2d(head.c_out, (1, 1)), x)
    b.add("conv_before_pooling.relu", Activation("relu6"))
    b.add("globalpool", Pool("avg", global_pool=True))
    b.add("classifier.1", Linear(classifier.c_out, bias=True))
    return b.build()


def _bn_channels(net: Supernet, arch: Arch) -> int:
    """Every conv of the stand-alone FairNAS model is followed by a BN (not the FC)."""
    return sum(o.c_out for o in net.subnet_ops(arch) if o.kind != "linear")


def build_supernet(width_mult: float = 1.0, image_size: int = IMAGE_SIZE,
                   num_classes: int = NUM_CLASSES) -> Supernet:
    """The FairNAS supernet; at another `width_mult` every channel count c becomes
    `scale_channels(c, width_mult)`, at another `image_size` every map shrinks accordingly
    (the CPU-scale supernets of `enasim enasa train`)."""
    geometry = _layer_geometry(width_mult, image_size)
    layers = tuple(tuple(_choice_block(i, c, *geo) for c in range(len(CHOICE_NAMES)))
                   for i, geo in enumerate(geometry))
    h = _halve(image_size)
    stem_c, sep_c, head_c = (scale_channels(c, width_mult)
                             for c in (STEM_CHANNELS, SEPARABLE_OUT, HEAD_CHANNELS))

    def fixed(section, name, kind, cin, cout, k, s, hin, bias=False):
        return SupernetOp(section, None, None, name, kind, cin, cout,
                          cin if kind == "dwconv" else 1, k, s, k // 2, hin, hin, bias)

    pre = (Block("stem", (fixed("stem", "0", "conv", 3, stem_c, 3, 2, image_size),), ((),)),
           Block("separable_conv",
                 (fixed("separable_conv", "0", "dwconv", stem_c, stem_c, 3, 1, h),
                  fixed("separable_conv", "3", "pwconv", stem_c, sep_c, 1, 1, h)),
                 ((), (0,))))
    _, last, stride, h = geometry[-1]
    post = (Block("conv_before_pooling", (fixed("conv_before_pooling", "0", "pwconv", last,
                                                head_c, 1, 1, _halve(h) if stride == 2 else h),),
                  ((),)),
            Block("classifier", (fixed("classifier", "1", "linear", head_c, num_classes,
                                       1, 1, 1, bias=True),), ((),)))
    return Supernet("fairnas", CHOICE_NAMES, pre, layers, post, _build, _bn_channels)


FAIRNAS = build_supernet()
