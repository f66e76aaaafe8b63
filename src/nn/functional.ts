// tg.nn.functional: activations, losses and layers as functions.
