"""Trains the plate detector on composed scenes and exports it.

  nohup nice -n 5 /usr/bin/python3 train/det_train.py --minutes 65 &
  python3 train/det_train.py --export-only        # last checkpoint -> models/

One thread (the other core is someone else's). The learning rate follows a
cosine over the wall-clock budget, so a run is defined by its minutes, not
its steps. Every few minutes the state (model, optimiser, elapsed time,
scene generator) is saved to train/out/det_last.pt and the model is scored
on photos-dev; a restarted run resumes from there. At the end the model is
written to train/out/detector.nnw and models/detector.nnw.
"""
import argparse
import math
import os
import shutil
import time

import torch

import det_data
import det_eval
import det_model
import loop

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "out")
LAST = os.path.join(OUT, "det_last.pt")


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=65)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corner-weight", type=float, default=2.0)
    ap.add_argument("--aspect-jitter", type=float, default=1.5)
    ap.add_argument("--us-weight", type=float, default=1.5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (scenes are composed in between, on one)")
    ap.add_argument("--every", type=float, default=6, help="minutes between checkpoints")
    ap.add_argument("--sign-share", type=float, default=0.3, help="share of scenes with signs and lettering")
    ap.add_argument("--tilt", type=float, default=15, help="steepest rotation drawn, degrees; above 15 "
                    "plates are slanted and keystoned too (det_data.Composer._warp)")
    ap.add_argument("--init", help="start from these weights (a checkpoint, or an .nnw file such as "
                    "models/detector.nnw) with a fresh optimiser and schedule (a fine-tune) instead "
                    "of resuming train/out/det_last.pt")
    ap.add_argument("--out", help="write the weights here only, not to models/detector.nnw")
    ap.add_argument("--export-only", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(OUT, exist_ok=True)

    model = det_model.Detector()
    log("params %d, %.1f M multiply-adds at 512x288"
        % (sum(p.numel() for p in model.parameters()), det_model.count_macs(model, 288, 512) / 1e6))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-4)
    comp = det_data.Composer(seed=a.seed, size=a.size, aspect_jitter=a.aspect_jitter,
                             us_weight=a.us_weight, sign_share=a.sign_share, tilt=a.tilt)
    elapsed, step = 0.0, 0
    if a.init:
        loop.init_from(model, a.init, lambda: det_data.batch(comp, 64)[0])
    elif os.path.exists(LAST):
        st = torch.load(LAST, map_location="cpu")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        elapsed, step = st["elapsed"], st["step"]
        comp.rng.setstate(st["rng"])
        log("resumed at step %d, %.1f min" % (step, elapsed / 60))
    if a.export_only:
        export(model, a.out)
        return

    dev = det_eval.load_dev()
    budget = a.minutes * 60
    t0, last_ck = time.time() - elapsed, time.time()
    run_hm = run_reg = 0.0
    while True:
        elapsed = time.time() - t0
        done = elapsed >= budget
        if done or time.time() - last_ck >= a.every * 60:
            te = time.time()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "elapsed": elapsed,
                        "step": step, "rng": comp.rng.getstate()}, LAST)
            rec, fpi, _ = det_eval.evaluate(model, dev)
            log("step %d  %.1f min  dev recall %.1f%%  fp/img %.2f" % (step, elapsed / 60, 100 * rec, fpi))
            t0 += time.time() - te  # evaluation time is not training time
            last_ck = time.time()
        if done:
            break
        lr = a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget))))
        if step < 200:
            lr *= (step + 1) / 200
        for g in opt.param_groups:
            g["lr"] = lr
        x, hm, reg, wt = det_data.batch(comp, a.batch)
        ph, pr = model(x)
        l_hm = det_model.focal_loss(ph, hm)
        l_reg = det_model.corner_loss(pr, reg, wt)
        loss = l_hm + a.corner_weight * l_reg
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        run_hm = 0.98 * run_hm + 0.02 * l_hm.item()
        run_reg = 0.98 * run_reg + 0.02 * l_reg.item()
        if step % 100 == 0:
            log("step %d  %.1f min  lr %.2e  heatmap %.3f  corners %.4f"
                % (step, elapsed / 60, lr, run_hm, run_reg))
    export(model, a.out)


def export(model, out=None):
    path = out or os.path.join(OUT, "detector.nnw")
    det_model.export(model, path)
    err = det_model.check_export(model, path)
    log("export check: max |torch - nn file| = %.2e" % err)
    if not out:
        shutil.copy(path, os.path.join(ROOT, "..", "models", "detector.nnw"))
    log("exported %s%s" % (path, "" if out else " and models/detector.nnw"))


if __name__ == "__main__":
    main()
