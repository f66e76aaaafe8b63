// Functions over several tensors, exported at the top level (tg.cat, tg.where, ...).
