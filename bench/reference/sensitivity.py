#!/usr/bin/env python3
"""How chaotic is the parity experiment? Runs the reference loop of distill_reference.py twice
in plain PyTorch, the second time with the initial weights perturbed by 1e-7 relative (float32
rounding level), and prints how far the per-step losses and final weights drift apart. Reads
the dump written by parity_dump in the directory given as the second argument.

    sensitivity.py <fashion-mnist dir> <dump dir>

(Measured on 2026-11-29: 1.1e-3 relative loss difference, 1.1e-2 relative weight difference
after 200 steps; distillery against the reference: 8.8e-5 and 5.6e-4.)
"""
import torch, json, math, sys
import os
src=open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'distill_reference.py')).read()
ns={}
exec(src.split('def main():')[0], ns)
read_idx, find, load, MEAN, STD, F = ns['read_idx'], ns['find'], ns['load'], ns['MEAN'], ns['STD'], ns['F']
rec=json.load(open(os.path.join(sys.argv[2], 'losses.json'))); steps,batch=rec['steps'],rec['batch_size']; t,alpha,base=rec['temperature'],rec['alpha'],rec['learning_rate']
n=steps*batch
x=((read_idx(find(sys.argv[1],'train-images-idx3-ubyte'))[:n].float()/255.0-MEAN)/STD).unsqueeze(1)
y=read_idx(find(sys.argv[1],'train-labels-idx1-ubyte'))[:n].long()
order=load(os.path.join(sys.argv[2], 'order.pt')); v=load(os.path.join(sys.argv[2], 'teacher.pt'))
def run(perturb):
    torch.manual_seed(0)
    s=torch.nn.Sequential(torch.nn.Flatten(),torch.nn.Linear(784,400),torch.nn.ReLU(),torch.nn.Linear(400,400),torch.nn.ReLU(),torch.nn.Linear(400,10))
    s.load_state_dict(load(os.path.join(sys.argv[2], 'init.pt')))
    if perturb:
        with torch.no_grad():
            for p in s.parameters(): p.add_(torch.randn_like(p)*1e-7*p.abs())
    opt=torch.optim.Adam(s.parameters(),lr=base); L=[]
    for step in range(steps):
        for g in opt.param_groups: g['lr']=0.5*base*(1+math.cos(math.pi*step/steps))
        idx=order[step*batch:(step+1)*batch]; z=s(x[idx])
        pl=F.log_softmax(v[idx]/t,1); ql=F.log_softmax(z/t,1)
        loss=alpha*t*t*(pl.exp()*(pl-ql)).sum(1).mean()+(1-alpha)*F.cross_entropy(z,y[idx])
        opt.zero_grad(); loss.backward(); opt.step(); L.append(loss.item())
    return s.state_dict(), torch.tensor(L,dtype=torch.float64)
a,la=run(False); b,lb=run(True)
print("loss rel", ((la-lb).abs()/la).max().item())
print("weight rel", max(((a[k]-b[k]).norm()/b[k].norm()).item() for k in a), "abs", max((a[k]-b[k]).abs().max().item() for k in a))
