"""A stored trace as a file other tools open: JSON Lines, OTLP/JSON and Perfetto (`trace_files`),
DOT and SVG drawings of the causal graph and the waterfall (`graph_drawing`).

Exporters sit in the UI layer, above the analyses they draw (the critical path) and the sinks'
OTLP converter they share, so `analysis/` stays computation only.
"""
