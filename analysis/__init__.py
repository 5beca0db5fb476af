"""Analysis of stored traces: causal graph, critical path, anti-patterns, PageRank."""
