"""Mistake bank and correct alternatives of 01_autograd."""

from __future__ import annotations

from textwrap import dedent, indent

from autograder.mistakes import Alternative, Mistake


def _cell(source: str) -> str:
    return dedent(source).strip("\n")


MSE = "mse_grad_solution"
LINE_FIT = "line_fit_solution"
SOFTPLUS = "softplus_solution"
LINEAR = "linear_function_solution"
LSE = "log_sum_exp_solution"
HVP = "hvp_solution"

MSE_TEST = ("mse_grad_matches_autograd",)
LINE_FIT_TEST = ("line_fit_steps_with_fresh_gradients",)
SOFTPLUS_TEST = ("softplus_stable_with_hand_written_backward",)
LINEAR_TEST = ("linear_function_gradients_per_input",)
LSE_TEST = ("log_sum_exp_stable_with_max_trick",)
HVP_TEST = ("hvp_by_double_backward",)


def _function(name: str, forward: str, backward: str) -> str:
    """A torch.autograd.Function cell as a student writes it: the exercise's class with these two bodies."""
    return (f"class {name}(torch.autograd.Function):\n"
            "    @staticmethod\n"
            f"{indent(_cell(forward), '    ')}\n\n"
            "    @staticmethod\n"
            f"{indent(_cell(backward), '    ')}\n")


STABLE_SOFTPLUS_FORWARD = """
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))
"""
SOFTPLUS_BACKWARD = """
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)
"""
LINEAR_FORWARD = """
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias
"""
LINEAR_BACKWARD = """
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        grad_x = grad_output @ weight if ctx.needs_input_grad[0] else None
        grad_weight = grad_output.T @ x if ctx.needs_input_grad[1] else None
        grad_bias = grad_output.sum(dim=0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias
"""
LSE_FORWARD = """
    def forward(ctx, x):
        m = x.max(dim=1, keepdim=True).values
        out = m.squeeze(1) + torch.log(torch.exp(x - m).sum(dim=1))
        ctx.save_for_backward(x, out)
        return out
"""
LSE_BACKWARD = """
    def backward(ctx, grad_output):
        x, out = ctx.saved_tensors
        return grad_output.unsqueeze(1) * torch.exp(x - out.unsqueeze(1))
"""


def _line_fit(step: str, init: str = "self.w = torch.zeros(num_features, requires_grad=True)") -> str:
    return ("class LineFit:\n"
            "    def __init__(self, num_features):\n"
            f"        {init}\n\n"
            "    def step(self, X, y, lr):\n"
            f"{indent(_cell(step), '        ')}\n")


MISTAKES = [
    # --- mse_grad ----------------------------------------------------------------------------------------------
    Mistake("mse_grad_uses_autograd", "lets autograd differentiate instead of the hand-derived formula (the text forbids it)",
            {MSE: _cell("""
                def mse_grad(X, y, w):
                    w = w.detach().requires_grad_()
                    loss = ((X @ w - y) ** 2).mean()
                    (grad,) = torch.autograd.grad(loss, w)
                    return grad
            """)}, MSE_TEST, warned_in_text=True),
    Mistake("mse_grad_no_factor_two", "forgets the 2 from differentiating the square",
            {MSE: _cell("""
                def mse_grad(X, y, w):
                    return X.T @ (X @ w - y) / X.shape[0]
            """)}, MSE_TEST),
    Mistake("mse_grad_sum_not_mean", "differentiates the sum of squares, not the mean (no 1/N)",
            {MSE: _cell("""
                def mse_grad(X, y, w):
                    return 2 * X.T @ (X @ w - y)
            """)}, MSE_TEST),
    Mistake("mse_grad_divides_by_features", "divides by D, the number of features, instead of N",
            {MSE: _cell("""
                def mse_grad(X, y, w):
                    return 2 * X.T @ (X @ w - y) / X.shape[1]
            """)}, MSE_TEST),
    Mistake("mse_grad_squeezes_everything", "works on a column vector and squeezes it: D = 1 gives a 0-d tensor "
            "(passes the visible test)",
            {MSE: _cell("""
                def mse_grad(X, y, w):
                    residual = (X @ w - y).unsqueeze(1)
                    return (2 / len(y) * X.T @ residual).squeeze()
            """)}, MSE_TEST),
    # --- LineFit -----------------------------------------------------------------------------------------------
    Mistake("line_fit_never_zeroes_grad", "never clears .grad, so every step adds the earlier gradients",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    self.w -= lr * self.w.grad
                return loss.item()
            """)}, LINE_FIT_TEST, warned_in_text=True),
    Mistake("line_fit_update_outside_no_grad", "updates the leaf in place while autograd records (RuntimeError)",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                self.w -= lr * self.w.grad
                self.w.grad.zero_()
                return loss.item()
            """)}, LINE_FIT_TEST, warned_in_text=True),
    Mistake("line_fit_replaces_w", "assigns a new leaf tensor each step instead of updating w in place (right values)",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                self.w = (self.w - lr * self.w.grad).detach().requires_grad_()
                return loss.item()
            """)}, LINE_FIT_TEST, warned_in_text=True),
    Mistake("line_fit_hard_coded_lr", "uses the learning rate of the visible test, 0.01, whatever lr it is given "
            "(passes the visible test)",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    self.w -= 0.01 * self.w.grad
                self.w.grad.zero_()
                return loss.item()
            """)}, LINE_FIT_TEST),
    Mistake("line_fit_zeroes_before_update", "clears the gradient before using it, so w never moves",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                self.w.grad.zero_()
                with torch.no_grad():
                    self.w -= lr * self.w.grad
                return loss.item()
            """)}, LINE_FIT_TEST),
    Mistake("line_fit_returns_tensor", "returns the loss tensor instead of a Python float",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    self.w -= lr * self.w.grad
                self.w.grad.zero_()
                return loss
            """)}, LINE_FIT_TEST),
    # --- Softplus ----------------------------------------------------------------------------------------------
    Mistake("softplus_naive_forward", "log(1 + exp(x)) overflows to inf from x = 89 in float32",
            {SOFTPLUS: _function("Softplus", """
                def forward(ctx, x):
                    ctx.save_for_backward(x)
                    return torch.log(1 + torch.exp(x))
            """, SOFTPLUS_BACKWARD)}, SOFTPLUS_TEST, warned_in_text=True),
    Mistake("softplus_unstable_sigmoid", "computes sigmoid as exp(x) / (1 + exp(x)): inf / inf = NaN for large x",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    return grad_output * torch.exp(x) / (1 + torch.exp(x))
            """)}, SOFTPLUS_TEST, warned_in_text=True),
    Mistake("softplus_backward_ignores_grad_output", "backward returns the derivative without the chain rule",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    return torch.sigmoid(x)
            """)}, SOFTPLUS_TEST),
    Mistake("softplus_derivative_of_saved_output", "saves the output y and takes sigmoid(y): the wrong saved tensor",
            {SOFTPLUS: _function("Softplus", """
                def forward(ctx, x):
                    y = x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))
                    ctx.save_for_backward(y)
                    return y
            """, """
                def backward(ctx, grad_output):
                    (y,) = ctx.saved_tensors
                    return grad_output * torch.sigmoid(y)
            """)}, SOFTPLUS_TEST),
    Mistake("softplus_in_place_on_saved_input", "backward applies sigmoid_ to the saved tensor, which is the caller's x",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    return grad_output * x.sigmoid_()
            """)}, SOFTPLUS_TEST, warned_in_text=True),
    Mistake("softplus_backward_uses_autograd", "recomputes the forward under enable_grad and asks autograd "
            "(the text forbids it)",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    with torch.enable_grad():
                        leaf = x.detach().requires_grad_()
                        y = torch.nn.functional.softplus(leaf)
                        (grad,) = torch.autograd.grad(y, leaf, grad_output)
                    return grad
            """)}, SOFTPLUS_TEST, warned_in_text=True),
    Mistake("softplus_backward_under_no_grad", "wraps backward in torch.no_grad: right first gradients, but they "
            "cannot be differentiated again (passes the visible test)",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    with torch.no_grad():
                        return grad_output * torch.sigmoid(x)
            """)}, SOFTPLUS_TEST),
    # --- LinearFunction ----------------------------------------------------------------------------------------
    Mistake("linear_ignores_grad_output", "multiplies by ones instead of grad_output",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    ones = torch.ones_like(grad_output)
                    return ones @ weight, ones.T @ x, ones.sum(dim=0)
            """)}, LINEAR_TEST),
    Mistake("linear_gradients_in_wrong_order", "returns the weight gradient first",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    return grad_output.T @ x, grad_output @ weight, grad_output.sum(dim=0)
            """)}, LINEAR_TEST),
    Mistake("linear_weight_gradient_transposed", "x.T @ grad_output has the shape (in, out), not (out, in)",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    return grad_output @ weight, x.T @ grad_output, grad_output.sum(dim=0)
            """)}, LINEAR_TEST),
    Mistake("linear_bias_gradient_not_summed", "returns grad_output itself for the bias; autograd sums it silently "
            "(passes the visible test; every other requirement, needs_input_grad included, is met)",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    grad_x = grad_output @ weight if ctx.needs_input_grad[0] else None
                    grad_weight = grad_output.T @ x if ctx.needs_input_grad[1] else None
                    grad_bias = grad_output if ctx.needs_input_grad[2] else None
                    return grad_x, grad_weight, grad_bias
            """)}, LINEAR_TEST),
    Mistake("linear_ignores_needs_input_grad", "computes every gradient whether it is needed or not "
            "(passes the visible test)",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    return grad_output @ weight, grad_output.T @ x, grad_output.sum(dim=0)
            """)}, LINEAR_TEST),
    Mistake("linear_backward_uses_autograd", "asks autograd for the gradients inside backward (the text forbids it)",
            {LINEAR: _function("LinearFunction", """
                def forward(ctx, x, weight, bias):
                    ctx.save_for_backward(x, weight, bias)
                    return x @ weight.T + bias
            """, """
                def backward(ctx, grad_output):
                    inputs = [t.detach().requires_grad_() for t in ctx.saved_tensors]
                    with torch.enable_grad():
                        y = inputs[0] @ inputs[1].T + inputs[2]
                        return torch.autograd.grad(y, inputs, grad_output)
            """)}, LINEAR_TEST, warned_in_text=True),
    # --- LogSumExp ---------------------------------------------------------------------------------------------
    Mistake("lse_naive", "log(sum(exp(x))) without the max trick overflows at |x| = 1000",
            {LSE: _function("LogSumExp", """
                def forward(ctx, x):
                    out = torch.log(torch.exp(x).sum(dim=1))
                    ctx.save_for_backward(x, out)
                    return out
            """, LSE_BACKWARD)}, LSE_TEST, warned_in_text=True),
    Mistake("lse_naive_softmax_in_backward", "backward's softmax as exp(x) / sum(exp(x)): inf / inf = NaN",
            {LSE: _function("LogSumExp", LSE_FORWARD, """
                def backward(ctx, grad_output):
                    x, out = ctx.saved_tensors
                    return grad_output.unsqueeze(1) * torch.exp(x) / torch.exp(x).sum(dim=1, keepdim=True)
            """)}, LSE_TEST, warned_in_text=True),
    Mistake("lse_max_without_keepdim", "subtracts a (N,) maximum from (N, C) rows: it broadcasts along the wrong axis",
            {LSE: _function("LogSumExp", """
                def forward(ctx, x):
                    m = x.max(dim=1).values
                    out = m + torch.log(torch.exp(x - m).sum(dim=1))
                    ctx.save_for_backward(x, out)
                    return out
            """, LSE_BACKWARD)}, LSE_TEST),
    Mistake("lse_backward_ignores_grad_output", "returns softmax without multiplying by grad_output",
            {LSE: _function("LogSumExp", LSE_FORWARD, """
                def backward(ctx, grad_output):
                    x, out = ctx.saved_tensors
                    return torch.exp(x - out.unsqueeze(1))
            """)}, LSE_TEST),
    Mistake("lse_global_max", "subtracts the maximum of the whole tensor: rows far below it underflow to log(0) "
            "(passes the visible test)",
            {LSE: _function("LogSumExp", """
                def forward(ctx, x):
                    m = x.max()
                    out = m + torch.log(torch.exp(x - m).sum(dim=1))
                    ctx.save_for_backward(x, out)
                    return out
            """, LSE_BACKWARD)}, LSE_TEST),
    # --- hvp ---------------------------------------------------------------------------------------------------
    Mistake("hvp_without_create_graph", "the first gradient is not recorded, so it cannot be differentiated again",
            {HVP: _cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x)
                    (product,) = torch.autograd.grad((grad * v).sum(), x)
                    return product
            """)}, HVP_TEST, warned_in_text=True),
    Mistake("hvp_returns_gradient", "returns the gradient of f, not H v",
            {HVP: _cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x)
                    return grad
            """)}, HVP_TEST),
    Mistake("hvp_ignores_v", "differentiates the sum of the gradient: H times a vector of ones",
            {HVP: _cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
                    (product,) = torch.autograd.grad(grad.sum(), x)
                    return product
            """)}, HVP_TEST),
    Mistake("hvp_dot_product", "torch.dot needs 1-D tensors: a 2-D x fails (passes the visible test)",
            {HVP: _cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
                    (product,) = torch.autograd.grad(torch.dot(grad, v), x)
                    return product
            """)}, HVP_TEST),
    Mistake("hvp_marks_callers_input", "calls requires_grad_() on the caller's x (passes the visible test)",
            {HVP: _cell("""
                def hvp(f, x, v):
                    x.requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
                    (product,) = torch.autograd.grad((grad * v).sum(), x)
                    return product
            """)}, HVP_TEST),
]

ALTERNATIVES = [
    Alternative("mse_grad_einsum", {MSE: _cell("""
        def mse_grad(X, y, w):
            residual = torch.einsum("nd,d->n", X, w) - y
            return torch.einsum("nd,n->d", X, residual) * (2 / len(y))
    """)}),
    Alternative("mse_grad_mean_of_rows", {MSE: _cell("""
        def mse_grad(X, y, w):
            return (2 * (X @ w - y).unsqueeze(1) * X).mean(dim=0)
    """)}),
    Alternative("line_fit_grad_none_and_data", {LINE_FIT: _line_fit("""
        if self.w.grad is not None:
            self.w.grad = None
        loss = torch.mean((X @ self.w - y) ** 2)
        loss.backward()
        self.w.data.sub_(lr * self.w.grad)
        return float(loss.detach())
    """)}),
    Alternative("line_fit_parameter", {LINE_FIT: _line_fit("""
        loss = ((X @ self.w - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            self.w.add_(self.w.grad, alpha=-lr)
            self.w.grad.zero_()
        return loss.item()
    """, init="self.w = torch.nn.Parameter(torch.zeros(num_features))")}),
    Alternative("softplus_functional_forward", {SOFTPLUS: _function("Softplus", """
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.nn.functional.softplus(x)
    """, SOFTPLUS_BACKWARD)}),
    Alternative("softplus_sigmoid_by_sign", {SOFTPLUS: _function("Softplus", """
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.logaddexp(x, torch.zeros_like(x))
    """, """
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            z = torch.exp(-x.abs())
            sigmoid = torch.where(x >= 0, 1 / (1 + z), z / (1 + z))
            return grad_output * sigmoid
    """)}),
    Alternative("softplus_from_saved_output", {SOFTPLUS: _function("Softplus", """
        def forward(ctx, x):
            y = torch.where(x > 20, x, torch.log1p(torch.exp(torch.clamp(x, max=20))))
            ctx.save_for_backward(y)
            return y
    """, """
        def backward(ctx, grad_output):
            (y,) = ctx.saved_tensors
            return grad_output * -torch.expm1(-y)
    """)}),
    Alternative("linear_addmm_and_skipped_work", {LINEAR: _function("LinearFunction", """
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            return torch.addmm(bias, x, weight.t())
    """, """
        def backward(ctx, grad_output):
            x, weight = ctx.saved_tensors
            grads = [None, None, None]
            if ctx.needs_input_grad[0]:
                grads[0] = grad_output.mm(weight)
            if ctx.needs_input_grad[1]:
                grads[1] = grad_output.t().mm(x)
            if ctx.needs_input_grad[2]:
                grads[2] = grad_output.sum(0)
            return tuple(grads)
    """)}),
    Alternative("lse_torch_logsumexp_forward", {LSE: _function("LogSumExp", """
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.logsumexp(x, dim=1)
    """, """
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return grad_output[:, None] * torch.softmax(x, dim=1)
    """)}),
    Alternative("lse_shifted_sum_saved", {LSE: _function("LogSumExp", """
        def forward(ctx, x):
            m, _ = torch.max(x, dim=-1, keepdim=True)
            shifted = torch.exp(x - m)
            total = shifted.sum(dim=-1, keepdim=True)
            ctx.save_for_backward(shifted / total)
            return (m + total.log()).squeeze(-1)
    """, """
        def backward(ctx, grad_output):
            (probabilities,) = ctx.saved_tensors
            return probabilities * grad_output.reshape(-1, 1)
    """)}),
    Alternative("hvp_functional", {HVP: _cell("""
        def hvp(f, x, v):
            return torch.autograd.functional.hvp(f, x, v)[1]
    """)}),
    Alternative("hvp_forward_over_reverse", {HVP: _cell("""
        def hvp(f, x, v):
            return torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]
    """)}),
    Alternative("hvp_vdot_on_flat", {HVP: _cell("""
        def hvp(f, x, v):
            leaf = x.clone().requires_grad_(True)
            grad = torch.autograd.grad(f(leaf), leaf, create_graph=True)[0]
            return torch.autograd.grad(torch.vdot(grad.flatten(), v.flatten()), leaf)[0].detach()
    """)}),
]
