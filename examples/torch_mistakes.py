"""Two common mistakes in PyTorch penalty code, each a variant of torch_penalties.critic_loss,
for seeing what refgan reports when the numbers are wrong:

    python examples/verify_torch.py live --kind js --mistake create_graph_missing
    python examples/verify_torch.py results vectors/v1/conformance.json broken.json \
        --kinds r1 --mistake batch_norm
    refgan verify vectors/v1/conformance.json broken.json --kinds r1 --only-failures
"""
import torch_penalties


def critic_loss_without_create_graph(critic, x_real, x_fake, gamma, penalty="js"):
    """The input gradient taken with retain_graph=True (which silences "Trying to backward
    through the graph a second time") where create_graph=True belongs: |grad v|^2 is then a
    constant to the optimiser, and only the weights (1-D)^2, D^2 carry a parameter gradient."""
    import torch

    def logits_and_input_gradients(x):
        x = x.detach().requires_grad_(True)
        v = critic(x).squeeze(1)
        (g,) = torch.autograd.grad(v.sum(), x, retain_graph=True)  # the mistake
        return v, g
    v_real, g_real = logits_and_input_gradients(x_real)
    v_fake, g_fake = logits_and_input_gradients(x_fake)
    reg = torch_penalties.PENALTIES[penalty](v_real, g_real, v_fake, g_fake)
    loss = torch_penalties.discriminator_loss(v_real, v_fake) + 0.5 * gamma * reg
    return loss, reg, (v_real, g_real, v_fake, g_fake)


def critic_loss_batch_norm(critic, x_real, x_fake, gamma, penalty="r1"):
    """R1 as g.norm() ** 2: one norm over the whole batch instead of one per sample."""
    v_real, g_real = torch_penalties.logits_and_input_gradients(critic, x_real)
    v_fake, g_fake = torch_penalties.logits_and_input_gradients(critic, x_fake)
    reg = g_real.norm() ** 2  # the mistake: should be g_real.flatten(1).pow(2).sum(1).mean()
    loss = torch_penalties.discriminator_loss(v_real, v_fake) + 0.5 * gamma * reg
    return loss, reg, (v_real, g_real, v_fake, g_fake)


# name: (the kind it is written for, critic_loss, the known fault refgan should name)
MISTAKES = {
    "create_graph_missing": ("js", critic_loss_without_create_graph, "second_order_missing"),
    "batch_norm": ("r1", critic_loss_batch_norm, "batch_norm"),
}
