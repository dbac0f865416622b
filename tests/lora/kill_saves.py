"""Kill a process with SIGKILL while it saves adapters, and check what the folder holds afterwards.

    PYTHONPATH=. python tests/lora/kill_saves.py 30        # 30 random kills; prints the tally
    PYTHONPATH=. python tests/lora/kill_saves.py 30 two-renames   # as where renameat2 is missing

A child process saves three versions of an adapter into one folder, round
and round: version 1 (r=2, lora_alpha=8), version 2 (the same tensors,
lora_alpha=32: differs only in lora_alpha) and version 3 (r=4, other
tensors: differs in rank). The parent kills it at a random moment, then
loads the folder: the outputs must be exactly those of one whole version.
Temporaries of killed saves must not pile up: the next save removes them.
With "two-renames" the child saves as on a system without Linux's atomic
folder exchange: the old folder is renamed away, then the new one in; a
kill between the two must be repaired by the next load. Used by
test_kill_saves.py with fewer kills.
"""
import os
import random
import subprocess
import sys
import time

import numpy as np

from lorabook import io, nn
from lorabook.lora import LoraConfig, PeftModel, get_peft_model

VERSIONS = [(2, 8, 0), (2, 32, 0), (4, 8, 1)]  # (r, lora_alpha, seed of the tensors)
X = np.random.default_rng(5).standard_normal((4, 20)).astype(np.float32)


def base():
    return nn.MLP([20, 64, 64, 3], generator=0)


def version(index):
    r, alpha, seed = VERSIONS[index]
    model = get_peft_model(base(), LoraConfig(r=r, lora_alpha=alpha, target_modules=["0", "2"]), generator=seed)
    rng = np.random.default_rng(seed)
    for param in model.parameters():
        if param.requires_grad:
            param.data[...] = rng.standard_normal(param.shape)
    return model


def child(folder, two_renames=False):
    """Save the versions in turn, forever; say "ready" after the first save."""
    if two_renames:
        io._exchange = lambda first, second: False  # as where renameat2 is missing
    models = [version(i) for i in range(len(VERSIONS))]
    models[0].save_pretrained(folder)
    print("ready", flush=True)
    i = 1
    while True:
        models[i % len(models)].save_pretrained(folder)
        i += 1


def leftovers(folder):
    parent, name = os.path.split(os.path.abspath(folder))
    return [entry for entry in os.listdir(parent) if entry.startswith(f".{name}.tmp-")]


def run_trials(trials, folder, seed=0, two_renames=False):
    """How many kills left each version, a broken folder, a staging folder beside it (the kill
    landed inside a save), no folder at all (only its ".old" copy), and the most temporaries
    ever found beside it once the folder had been loaded."""
    expected = [version(i)(X).data for i in range(len(VERSIONS))]
    tally = {f"version {i + 1}": 0 for i in range(len(VERSIONS))}
    tally.update(broken=0, most_leftovers=0, killed_inside_a_save=0, folder_missing=0)
    chooser = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    for _ in range(trials):
        command = [sys.executable, os.path.abspath(__file__), "child", folder] + ["two-renames"] * two_renames
        process = subprocess.Popen(command,
                                   stdout=subprocess.PIPE, env=env, text=True)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(chooser.uniform(0.0, 0.3))  # a save takes some milliseconds: the kill lands anywhere in one
        process.kill()
        process.wait()
        process.stdout.close()
        tally["killed_inside_a_save"] += bool(leftovers(folder))  # the child's first save removed older ones
        tally["folder_missing"] += not os.path.exists(folder)  # two renames: killed between them
        try:
            output = PeftModel.from_pretrained(base(), folder)(X).data
            matches = [i for i, e in enumerate(expected) if np.array_equal(output, e)]
        except Exception:  # noqa: BLE001 - any failure to load counts as a broken folder
            matches = []
        # Counted after the load: a kill between the two renames leaves the old folder as a
        # second temporary (beside the staging folder) until the load puts it back.
        tally["most_leftovers"] = max(tally["most_leftovers"], len(leftovers(folder)))
        if matches:
            tally[f"version {matches[0] + 1}"] += 1
        else:
            tally["broken"] += 1
    return tally


if __name__ == "__main__":
    if sys.argv[1] == "child":
        child(sys.argv[2], two_renames="two-renames" in sys.argv[3:])
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            folder = os.path.join(scratch, "adapter")
            print(run_trials(int(sys.argv[1]), folder, two_renames="two-renames" in sys.argv[2:]))
            version(0).save_pretrained(folder)
            print("temporaries after the next save:", leftovers(folder))
