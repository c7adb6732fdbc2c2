"""Streamlit app: registered versions side by side, and each one's report.

Started by `txcat dashboard` (or `make dashboard`), which passes the configuration options
after `--`:  streamlit run dashboard_app.py -- --env local --set lifecycle.tracking_uri=...
"""

from __future__ import annotations

import argparse
import sys

import streamlit as st

from txcat.config import Config, load_config
from txcat.lifecycle import dashboard


def _config() -> Config:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="local")
    parser.add_argument("--conf-dir", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(sys.argv[1:])
    return load_config(args.env, args.conf_dir, args.overrides)


def main() -> None:
    cfg = _config()
    st.set_page_config(page_title="txcat models", layout="wide")
    name = cfg.lifecycle.registered_model
    st.title(f"Registered model {name}")
    st.caption(
        f"registry: {cfg.lifecycle.tracking_uri}; serving alias: {cfg.lifecycle.serving_alias}"
    )
    table = dashboard.versions_table(cfg)
    if table.empty:
        st.info("No version registered yet: run `txcat train`.")
        return
    st.subheader("Versions")
    st.dataframe(table.drop(columns=["sha256", "run_id"]), hide_index=True)
    all_versions = table["version"].tolist()
    chosen = st.multiselect("Compare versions", all_versions, default=all_versions[:2])
    if not chosen:
        return
    st.subheader("Hold-out metrics side by side")
    st.dataframe(dashboard.comparison(table, chosen))
    for column, version in zip(st.columns(len(chosen)), chosen, strict=True):
        with column:
            st.markdown(f"### Version {version}")
            for line in dashboard.gate_detail(cfg, version):
                st.text(line)
            try:
                report = dashboard.load_report(dashboard.report_folder(cfg, version))
            except Exception as exc:  # noqa: BLE001  (an old version without a report)
                st.warning(f"no report for version {version}: {exc}")
                continue
            for title, path in report["plots"].items():
                st.image(str(path), caption=title)
            st.dataframe(report["per_class"], hide_index=True)
            with st.expander("Full HTML report"):
                st.html(report["html"])


main()
