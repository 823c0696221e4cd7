"""The demo "shop" dataset the end-to-end pipeline runs on."""

from dataops_assets.demo.generate import DEMO_DAYS, DEMO_START, DemoDataset, generate_demo

__all__ = ["DEMO_DAYS", "DEMO_START", "DemoDataset", "generate_demo"]
