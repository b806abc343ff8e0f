"""Helpers shared by the peerlab notebooks: load a result directory.

A result directory is what `peerlab run` (or a sweep) writes: Parquet
tables with a `protocol` column (a sweep adds `run_id`, `point` and
`replication`) and `summary.csv` (a sweep adds `point` and one column per
swept parameter path). Missing sweep columns mean a single run and point.
"""

import os
import pathlib

import polars as pl

# Okabe-Ito: distinguishable under the common forms of colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
MARKERS = ["o", "^", "s", "D", "v", "P"]

SUMMARY_COLUMNS = ["metric", "unit", "mean", "std", "n", "ci95_half_width", "protocol"]
KEY_COLUMNS = ["point", "run_id", "replication"]


def paths():
    """The result directory (PEERLAB_RESULTS) and the figure directory
    (PEERLAB_FIGURES, default RESULTS/notebook_figures), created."""
    results = pathlib.Path(os.environ.get("PEERLAB_RESULTS", "../results/quickstart"))
    if not (results / "summary.csv").is_file():
        raise FileNotFoundError(
            f"{results}/summary.csv not found: set PEERLAB_RESULTS to a peerlab result directory"
        )
    figures = pathlib.Path(os.environ.get("PEERLAB_FIGURES", results / "notebook_figures"))
    figures.mkdir(parents=True, exist_ok=True)
    return results, figures


def with_keys(df):
    """Adds the sweep key columns a single run lacks, as strings."""
    if "protocol" not in df.columns:
        df = df.with_columns(pl.lit("kademlia").alias("protocol"))
    for c in KEY_COLUMNS:
        if c in df.columns:
            df = df.with_columns(pl.col(c).cast(pl.Utf8))
        else:
            df = df.with_columns(pl.lit("").alias(c))
    return df


def read_lookups(results):
    """lookups.parquet with the key columns, measured lookups only."""
    df = with_keys(pl.read_parquet(results / "lookups.parquet"))
    if "measured" in df.columns:
        df = df.filter(pl.col("measured"))
    return df


def read_summary(results):
    """summary.csv with the key columns, and the swept parameter paths."""
    df = pl.read_csv(results / "summary.csv", infer_schema_length=None)
    params = [c for c in df.columns if c not in SUMMARY_COLUMNS + KEY_COLUMNS]
    return with_keys(df), params


def groups(df):
    """The (protocol, point) pairs of a table, in order of appearance."""
    return df.select("protocol", "point").unique(maintain_order=True).rows()


def labeller(df, summary, params):
    """A function giving the legend text of a (protocol, point) group."""
    gs = groups(df)
    multi_protocol = len({p for p, _ in gs}) > 1
    multi_point = len({q for _, q in gs}) > 1

    def point_label(point):
        if not params:
            return f"point {point}"
        row = summary.filter(pl.col("point") == point).row(0, named=True)
        return ", ".join(f"{p.split('.')[-1]} = {row[p]}" for p in params)

    def label(protocol, point):
        parts = []
        if multi_protocol or not multi_point:
            parts.append(protocol)
        if multi_point:
            parts.append(point_label(point))
        return ", ".join(parts)

    return label


def style(ax, title, xlabel, ylabel):
    """Publication style: title, labelled axes with units, light grid."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, color="#eeeeee")
    ax.set_axisbelow(True)
