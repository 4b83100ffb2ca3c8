"""Bahri, Dyer, Kaplan, Lee & Sharma (2024), "Explaining Neural Scaling Laws": one recipe per figure.

- ``bahri-fig1a`` (``networks``): the four scaling regimes in trained networks on digits and MNIST-1D;
- ``bahri-fig1b`` (``networks``, ``dims``): deep teacher-students on hypercubes, 4/alpha_D against d, and real data
  against its intrinsic dimension;
- ``bahri-fig2`` (``fig2``): random-feature and NNGP models on pooled digits and MNIST-1D;
- ``bahri-fig2b-manifolds`` (``duality``): Fig. 2b's alpha_D = alpha_P = alpha_K in the exactly solvable
  teacher-student setting, on manifolds of known dimension, with the 4/d of Theorems 2-3;
- ``bahri-fig3`` (``networks``, ``data``): alpha_D with classes merged into superclasses and with input noise;
- ``bahri-figS1`` (``supplement``): loss and error, final and early-stopped, on Fig. 1a's resolution-limited slices;
- ``bahri-figS4`` (``supplement``): alpha_P against the input dimension d in Fig. 1b's teacher-student setting;
- ``bahri-figS6`` (``networks``, ``data``): linear readouts on frozen pretrained features (Figs. S6, S7).

``runs`` trains the networks, ``common`` holds what the kernel recipes share, ``plots``, ``network_plots`` and
``supplement_plots`` draw.
"""
