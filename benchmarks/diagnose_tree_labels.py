import numpy as np, sys
from dpcondense.data import train_test_split
from dpcondense.datasets import load_dataset
from dpcondense.models import make_model
from sklearn.metrics import roc_auc_score as auroc
for name in ["breast_cancer_wisconsin","pima_diabetes","support_mortality"]:
    res={}
    for seed in range(3):
        tr,te=train_test_split(load_dataset(name),seed=seed)
        X=tr.encoded(); y=np.asarray(tr.y); Xt=te.encoded(); yt=np.asarray(te.y)
        enc=tr.encoder(); lo,hi=enc.lower_,enc.upper_
        rng=np.random.default_rng(seed)
        mu=[X[y==c].mean(0) for c in (0,1)]; sd=[X[y==c].std(0) for c in (0,1)]
        def ev(Xs,ys,w=None,leaf=1):
            m=make_model("decision_tree",random_state=seed,max_depth=4,min_samples_leaf=leaf)
            m.fit(Xs,ys) if w is None else m.fit(Xs,ys,sample_weight=w)
            return auroc(yt,m.predict_proba(Xt)[:,1])
        ys=np.repeat([0,1],10)
        for s,label in [(0.3,"mean+0.3"),(None,"diag")]:
            Xs=np.vstack([mu[c]+rng.normal(0,1,(10,len(lo)))*(s if s else sd[c]) for c in (0,1)])
            res.setdefault(label,[]).append(ev(np.clip(Xs,lo,hi),ys))
        # diag sampled, scaled 0.5
        Xs=np.vstack([mu[c]+rng.normal(0,1,(10,len(lo)))*sd[c]*0.5 for c in (0,1)])
        res.setdefault("diag*0.5",[]).append(ev(np.clip(Xs,lo,hi),ys))
        idx=np.concatenate([rng.choice(np.flatnonzero(y==c),10) for c in (0,1)])
        res.setdefault("random",[]).append(ev(X[idx],y[idx]))
        # 'soft': real subset rows, labels by LR teacher prob as weights duplicate
        from sklearn.linear_model import LogisticRegression
        t=LogisticRegression(max_iter=1000).fit(X,y); p=t.predict_proba(X[idx])[:,1]
        Xd=np.vstack([X[idx],X[idx]]); yd=np.r_[np.zeros(20),np.ones(20)]; wd=np.r_[1-p,p]
        res.setdefault("random+teacher soft",[]).append(ev(Xd,yd,wd))
        Xs=np.vstack([mu[c]+rng.normal(0,1,(10,len(lo)))*sd[c] for c in (0,1)]); Xs=np.clip(Xs,lo,hi)
        p=t.predict_proba(Xs)[:,1]
        res.setdefault("diag+teacher soft",[]).append(ev(np.vstack([Xs,Xs]),yd,np.r_[1-p,p]))
        res.setdefault("full",[]).append(ev(X,y))
    print(name, {k:f"{np.mean(v):.3f}±{np.std(v):.3f}" for k,v in res.items()})
