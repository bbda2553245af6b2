"""Reports: result files (JSON/CSV, written atomically) and terminal tables."""

from enasim.report.files import summary_dict, write_results
from enasim.report.tables import format_table, layers_table

__all__ = ["format_table", "layers_table", "summary_dict", "write_results"]
