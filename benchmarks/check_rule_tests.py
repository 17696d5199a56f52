"""Check that every clean-up and tracking rule has a test that fails without it.

For each rule, a scratch copy of python/ and tests/ is made with the rule
disabled (one text substitution in the engine), the pipeline's rule tests
run there, and the failing tests are printed. Every mutation must be
caught. Usage::

    .venv/bin/python benchmarks/check_rule_tests.py [--scratch /tmp/autoseg-mutations]
"""
import argparse
import pathlib
import shutil
import subprocess
import sys

SRC = pathlib.Path(__file__).resolve().parents[1]
PY = sys.executable
_parser = argparse.ArgumentParser(description=__doc__)
_parser.add_argument("--scratch", default="/tmp/autoseg-mutations")
_parser.add_argument("--only", default="", help="comma-separated mutation name prefixes to run (e.g. R,G3); all by default")
_args = _parser.parse_args()
DST = pathlib.Path(_args.scratch)
M = [
 ("S1 stage-2 discard rule off", "stage2.py", "discard = alive & (overlapping.sum(axis=1) >= params.discard_min_others)", "discard = alive & False"),
 ("S2 discard needs only one other", "stage2.py", "discard = alive & (overlapping.sum(axis=1) >= params.discard_min_others)", "discard = alive & (overlapping.sum(axis=1) >= 1)"),
 ("S3 discard ignores Sim threshold", "stage2.py", "overlapping = (sim >= params.discard_sim) & comparable", "overlapping = (sim > 0) & comparable"),
 ("S4 stage-2 merge rule off", "stage2.py", "        if len(candidates) == 1:\n            partner[i]", "        if False:\n            partner[i]"),
 ("T1 epsilon rule off (eps=0)", "mask_cache.py", "(current + epsilon <= candidate_probs + 1e-6)", "(current <= candidate_probs + 1e-6)"),
 ("T2 newest prediction always overwrites", "mask_cache.py", "(current + epsilon <= candidate_probs + 1e-6)", "True"),
 ("T3 direct match off", "tracking.py", "if entry.iou >= params.direct_match_iou:", "if False:"),
 ("T4 discard of masks over >1 layer off", "tracking.py", "elif len(overlapped) > 1:", "elif False:"),
 ("T5 partial match off", "tracking.py", "                if len(candidates):\n", "                if False:\n"),
 ("T6 no new layers for unmatched masks", "tracking.py", "entry = Match(i, NEW)", "entry = Match(i, DISCARDED)"),
 ("T7 prompts written into the cache", "tracking.py", "    for layer_id, prompt in (overrides or {}).items():\n        prompts[int(layer_id)] = prompt\n", "    for layer_id, prompt in (overrides or {}).items():\n        prompts[int(layer_id)] = prompt\n    for layer_id, prompt in prompts.items():\n        if prompt.mask is not None:\n            cache.apply(frame, np.where(prompt.mask > 0, layer_id, 0).astype(np.uint16), prompt.mask, 0.0)\n"),
 ("T8 backward pass off", "tracking.py", "    if params.backward:\n        plan.append((BACKWARD, BACKWARD, True))", "    pass"),
 ("T9 no re-prompting (one window per pass start)", "tracking.py", "chosen = set(ordered[::params.reprompt_every])", "chosen = set(ordered[:1])"),
 ("T10 invisible objects merged", "tracking.py", "visible = np.flatnonzero(scores > 0)", "visible = np.arange(len(scores))"),
 ("T11 seed pass for keyframes off", "tracking.py", "    if automatic and list(keyframes):", "    if False:"),
 ("T12 window length ignored (track to the end)", "tracking.py", "        return frame_numbers[position:position + window]", "        return frame_numbers[position:]"),
 ("R1 recent rule: older evidence accepted", "mask_cache.py", "if ages_in[i] <= maps.ages.get(int(layer_ids[i]), np.inf)]", "if True]"),
 ("R2 recent rule: older pixels of a layer not released", "mask_cache.py", "released = np.isin(maps.ids, ids)", "released = np.zeros(maps.ids.shape, bool)"),
 ("R3 recent rule: fresher evidence does not beat older layers", "mask_cache.py", "base = np.where(candidate_ages < owner_age, 0.0, current)", "base = current"),
 ("R4 recent rule falls back to the paper rule", "tracking.py", "    if params.cache_rule in (RECENT_RULE, GUARDED_RULE):\n        object_ages", "    if params.cache_rule in (GUARDED_RULE,):\n        object_ages"),
 ("R5 evidence age does not grow while propagating", "tracking.py", "ages = {i: age + (step - start) for i, (start, age) in anchors.items()}", "ages = {i: age for i, (start, age) in anchors.items()}"),
 ("R6 partial-match prompts count as fresh evidence", "tracking.py", "if all(e.kind in (DIRECT, NEW, REIDENTIFIED) for e in entries) and len(entries) == 1}", "}"),
 ("G1 guarded: several stage-2 masks may share one layer", "tracking.py", "new_indices = sorted(new_indices + _split_shared_layers(cache, matches.entries, looks, params))", "new_indices = sorted(new_indices)"),
 ("G2 guarded: a shared layer keeps its worst mask", "tracking.py", "keep = max(positions, key=lambda k: entries[k].iou)", "keep = min(positions, key=lambda k: entries[k].iou)"),
 ("G3 guarded: cache prompts keep other layers' fresh pixels", "tracking.py", "        present = _without_other_fresh_masks(present, matches, params.mask_threshold)", "        present = dict(present)"),
 ("G4 guarded: no re-identification", "tracking.py", "new_indices = _reidentify(cache, frame, matches.entries, new_indices, binary, stage2_result.labels, params, set(overrides), looks)", "new_indices = list(new_indices)"),
 ("G5 guarded: re-identification without motion", "tracking.py", "shift = (here - there) / back * abs(seen - frame)", "shift = (here - there) * 0"),
 ("G6 guarded: re-identification takes matched layers", "tracking.py", "claimed = {e.layer_id for e in entries if e.kind in (DIRECT, PARTIAL)} | excluded", "claimed = set(excluded)"),
 ("G7 guarded falls back to the paper merge", "tracking.py", "    if params.cache_rule in (RECENT_RULE, GUARDED_RULE):\n        object_ages", "    if params.cache_rule in (RECENT_RULE,):\n        object_ages"),
 ("G8 guarded: re-identified prompts are not fresh", "tracking.py", "(DIRECT, NEW, REIDENTIFIED) for e in entries)", "(DIRECT, NEW) for e in entries)"),
 ("A1 guarded: positional re-identification ignores appearance", "tracking.py", "if look is not None and look < params.appearance_gate:", "if False:"),
 ("A2 guarded: no re-identification by appearance", "tracking.py", "new_indices = _reidentify_by_appearance(matches.entries, new_indices, stage2_result.labels, params, set(overrides) | set(layer_ids), looks, cache)", "new_indices = list(new_indices)"),
 ("A3 guarded: lookalikes are guessed (no margin)", "appearance.py", "and scores[best] - runner_up >= margin:", ":"),
 ("A4 guarded: appearance re-identifies a layer present on the frame", "tracking.py", "new, known, claimed | present, params.reid_appearance", "new, known, claimed, params.reid_appearance"),
 ("A5 guarded: parts that look like their layer start new layers", "tracking.py", "if look is not None and look >= params.part_appearance:", "if False:"),
 ("A6 guarded: a pass never learns appearance", "tracking.py", "        cache.update_appearance(matches.looks)\n", "\n"),
 ("A7 guarded: appearance learnt from partial matches too", "tracking.py", "if len(entries) == 1 and entries[0].kind in (DIRECT, NEW, REIDENTIFIED) and looks[entries[0].index] is not None:", "if looks[entries[0].index] is not None:"),
]
TESTS = ["tests/test_pipeline_stage2.py", "tests/test_pipeline_cache.py", "tests/test_pipeline_tracking.py", "tests/test_pipeline_interactive.py",
         "tests/test_pipeline_cache_rule.py", "tests/test_pipeline_appearance.py"]
ok = True
_only = [p for p in _args.only.split(",") if p]
for name, module, old, new in M:
    if _only and not any(name.split(" ")[0] == p or name.startswith(p) and p[-1:].isalpha() for p in _only):
        continue
    if DST.exists(): shutil.rmtree(DST)
    DST.mkdir(parents=True)
    shutil.copytree(SRC / 'python', DST / 'python', ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copytree(SRC / 'tests', DST / 'tests', ignore=shutil.ignore_patterns('__pycache__', 'test-artifacts'))
    shutil.copy(SRC / 'pyproject.toml', DST / 'pyproject.toml')
    (DST / 'export').mkdir()
    path = DST / 'python/SegmentationCore/pipeline' / module
    text = path.read_text()
    assert text.count(old) == 1, (name, text.count(old))
    path.write_text(text.replace(old, new))
    r = subprocess.run([PY, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-o', 'addopts=', *TESTS], cwd=DST, capture_output=True, text=True)
    failed = sorted({l.split('::')[1].split(' ')[0] for l in r.stdout.splitlines() if l.startswith('FAILED')})
    last = r.stdout.strip().splitlines()[-1]
    print(f"{name}: {last}")
    for f in failed: print("     ", f)
    if not failed: ok = False
shutil.rmtree(DST, ignore_errors=True)
print("every mutation caught" if ok else "SOME MUTATION SURVIVED")
sys.exit(0 if ok else 1)
