"""The training loop the recogniser and the corner refiner share, and
init_from(), with which all three trainers (the detector's too) start
from given weights.

Training runs to a wall-clock budget rather than a step count, so that a
recipe states what a two-core machine can do in the time it has: the
learning rate warms up over the first steps and then follows a cosine over
the budget. Every few minutes (and at the end) it checkpoints, so that a
run killed part way resumes where it was, and calls back to evaluate and
export.
"""
import os
import time

import numpy as np
import torch

import nnrun


def resume(model, opt, path):
    """Loads a checkpoint written by run() if there is one: (seconds spent,
    steps done)."""
    if not os.path.exists(path):
        return 0.0, 0
    st = torch.load(path)
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["opt"])
    print(f"resumed at step {st['step']}, {st['spent'] / 60:.1f} min", flush=True)
    return st["spent"], st["step"]


def init_from(model, path, calib):
    """Sets model's weights from a checkpoint or an .nnw file, to train on
    from them with a fresh optimiser and schedule. An .nnw's BatchNorm
    statistics are calibrated on calib(), a batch of training inputs."""
    if path.endswith(".nnw"):
        err = nnrun.init_from(model, path, calib())
        print(f"weights from {path} (max |torch - file| {err:.2e})", flush=True)
    else:
        model.load_state_dict(torch.load(path, map_location="cpu")["model"])
        print(f"weights from {path}", flush=True)


def run(model, opt, batches, loss_of, *, ckpt, lr, budget, spent, step, batch,
        eval_every, log_every, on_checkpoint, warmup=300, floor=0.01):
    """Trains model on batches until budget seconds are spent (spent of them
    already, step steps done), loss_of(batch) giving the loss. At every
    checkpoint it saves ckpt, then calls on_checkpoint(step) with the model
    in eval mode."""
    t0, last = time.time() - spent, time.time()
    for b in batches:
        spent = time.time() - t0
        rate = lr * (min(1.0, step / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, spent / budget))) + floor)
        for g in opt.param_groups:
            g["lr"] = rate
        loss = loss_of(b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % log_every == 0:
            print(f"step {step} {spent / 60:.1f} min loss {loss.item():.4f} lr {rate:.2e} "
                  f"{step * batch / max(spent, 1):.0f} samples/s", flush=True)
        done = spent >= budget
        if done or time.time() - last > eval_every:
            last = time.time()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "spent": spent, "step": step}, ckpt)
            model.eval()
            on_checkpoint(step)
            model.train()
        if done:
            break
