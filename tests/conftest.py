import torch

# The suite runs under pytest-xdist with one worker per core; intra-op threads on top of that
# oversubscribe the CPU and make the tests several times slower.
torch.set_num_threads(1)
