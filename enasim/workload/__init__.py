"""Workloads: the Network IR, the YAML format and the model zoo."""

from enasim.workload.ir import Network, NetworkBuilder, Node
from enasim.workload.zoo import load_workload, zoo_names

__all__ = ["Network", "NetworkBuilder", "Node", "load_workload", "zoo_names"]
