import json, sys, time, itertools
import numpy as np
from joblib import Parallel, delayed
from dpcondense.data import train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.evaluate import evaluate_release
from dpcondense.methods import make_method

CONFIGS = json.loads(sys.argv[1])
seeds = range(int(sys.argv[2])); eps_list=[float(e) for e in sys.argv[3].split(",")]
datasets = sys.argv[4].split(",") if len(sys.argv)>4 else ["breast_cancer_wisconsin","pima_diabetes","support_mortality"]
model = sys.argv[5] if len(sys.argv)>5 else "decision_tree"
def one(name, seed, eps, cname):
    train,_ = train_test_split(load_dataset(name), seed=seed)
    fit, val = train_test_split(train, seed=1000+seed)
    t0=time.time()
    if cname in ("random_subset","full_data"):
        est = make_method(cname, model=model, size=10, random_state=seed).fit(fit)
    else:
        est = make_method("dpzo", model=model, size=10, epsilon=eps, random_state=seed, **CONFIGS[cname]).fit(fit)
    auc = evaluate_release(est.synthetic_encoded_, fit, val, model, random_state=seed)["auroc"]
    return dict(ds=name, seed=seed, eps=eps, cfg=cname, auroc=auc, s=time.time()-t0)
jobs=[(n,s,e,c) for n in datasets for s in seeds for e in eps_list for c in CONFIGS]
jobs+= [(n,s,0,c) for n in datasets for s in seeds for c in ("random_subset",)]
out=Parallel(n_jobs=2)(delayed(one)(*j) for j in jobs)
import collections
agg=collections.defaultdict(list)
for r in out: agg[(r["ds"],r["cfg"],r["eps"])].append(r["auroc"])
for k,v in sorted(agg.items()): print(k, f"{np.mean(v):.3f} ± {np.std(v):.3f}", [round(x,3) for x in v])
