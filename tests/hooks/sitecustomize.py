"""Started by Python in a subprocess whose PYTHONPATH holds this folder (step_hooks.subprocess_env):
installs the test's step hooks on ResumeCallback as soon as imbalance_gan.runtime.resilience is
imported, without importing it (or torch) any earlier than the process would."""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys

import step_hooks

TARGET = "imbalance_gan.runtime.resilience"


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, hooks: dict) -> None:
        self.hooks = hooks

    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)  # once, and not for the look-up below
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module) -> None:
            execute(module)
            cls = module.ResumeCallback
            cls.on_train_batch_end = step_hooks.wrap(cls, **self.hooks)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get(step_hooks.ENV):
    sys.meta_path.insert(0, _PatchOnImport(json.loads(os.environ[step_hooks.ENV])))
