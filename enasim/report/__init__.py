"""Reports: result files (JSON/CSV, written atomically) and terminal tables."""

from enasim.report.files import summary_dict, write_results
from enasim.report.tables import format_table, layers_table
from enasim.report.timeline import chrome_trace, timeline_json

__all__ = ["chrome_trace", "format_table", "layers_table", "summary_dict", "timeline_json",
           "write_results"]
