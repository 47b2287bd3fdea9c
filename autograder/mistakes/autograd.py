"""Mistake bank and correct alternatives of 01_autograd."""

from __future__ import annotations

from textwrap import indent

from autograder.mistakes import Alternative, Mistake, cell

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
            f"{indent(cell(forward), '    ')}\n\n"
            "    @staticmethod\n"
            f"{indent(cell(backward), '    ')}\n")


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
            f"{indent(cell(step), '        ')}\n")


MISTAKES = [
    # --- mse_grad ----------------------------------------------------------------------------------------------
    Mistake("mse_grad_uses_autograd", "lets autograd differentiate instead of the hand-derived formula (the text forbids it)",
            {MSE: cell("""
                def mse_grad(X, y, w):
                    w = w.detach().requires_grad_()
                    loss = ((X @ w - y) ** 2).mean()
                    (grad,) = torch.autograd.grad(loss, w)
                    return grad
            """)}, MSE_TEST, warned_in_text=True,
            label="autograd로 기울기 구하기",
            hint=("이 연습 문제는 기울기(gradient)를 자동 미분(autograd)에 맡기지 않고 손으로 유도한 식으로 계산하는 연습이에요. "
                  "평균제곱오차를 가중치 w에 대해 미분한 식을 직접 세워서 텐서 연산으로 옮겨 보세요.")),
    Mistake("mse_grad_no_factor_two", "forgets the 2 from differentiating the square",
            {MSE: cell("""
                def mse_grad(X, y, w):
                    return X.T @ (X @ w - y) / X.shape[0]
            """)}, MSE_TEST,
            label="제곱을 미분할 때 나오는 2 빠뜨리기",
            hint="제곱을 미분하면 지수가 앞으로 내려와 곱해지는데, 이 답의 기울기는 정답의 절반이에요. 잔차의 제곱을 가중치 w에 대해 미분하는 과정을 한 단계씩 다시 따라가 보세요."),
    Mistake("mse_grad_sum_not_mean", "differentiates the sum of squares, not the mean (no 1/N)",
            {MSE: cell("""
                def mse_grad(X, y, w):
                    return 2 * X.T @ (X @ w - y)
            """)}, MSE_TEST,
            label="평균 대신 합을 미분하기",
            hint="손실은 제곱오차의 합이 아니라 평균이라서 기울기에도 표본 수 N으로 나누는 부분이 있어야 해요. 평균을 낼 때 나누는 표본 수 N이 미분한 식에도 남아 있는지 확인해 보세요."),
    Mistake("mse_grad_divides_by_features", "divides by D, the number of features, instead of N",
            {MSE: cell("""
                def mse_grad(X, y, w):
                    return 2 * X.T @ (X @ w - y) / X.shape[1]
            """)}, MSE_TEST,
            label="표본 수 대신 특성 수로 나누기",
            hint="평균은 표본(행) 수에 대해 내는데, 이 답은 특성(열) 수로 나눠요. X의 어느 차원이 표본 수인지 다시 확인해 보세요."),
    Mistake("mse_grad_squeezes_everything", "works on a column vector and squeezes it: D = 1 gives a 0-d tensor "
            "(passes the visible test)",
            {MSE: cell("""
                def mse_grad(X, y, w):
                    residual = (X @ w - y).unsqueeze(1)
                    return (2 / len(y) * X.T @ residual).squeeze()
            """)}, MSE_TEST,
            label="squeeze로 크기가 일(1)인 차원까지 없애기",
            hint=("squeeze 메서드는 크기가 일(1)인 차원을 모두 없애서, 특성이 하나뿐이면 기울기가 0차원 텐서가 돼요. "
                  "기울기의 모양(shape)이 언제나 w의 모양과 같은지 확인해 보세요.")),
    # --- LineFit -----------------------------------------------------------------------------------------------
    Mistake("line_fit_never_zeroes_grad", "never clears .grad, so every step adds the earlier gradients",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    self.w -= lr * self.w.grad
                return loss.item()
            """)}, LINE_FIT_TEST, warned_in_text=True,
            label="지난 기울기를 지우지 않기",
            hint=("backward 메서드를 부를 때마다 기울기는 grad 속성에 더해져 쌓여요(accumulate). "
                  "매 step에서 이번 기울기만 쓰도록, 업데이트한 뒤 기울기를 지우는지 확인해 보세요.")),
    Mistake("line_fit_update_outside_no_grad", "updates the leaf in place while autograd records (RuntimeError)",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                self.w -= lr * self.w.grad
                self.w.grad.zero_()
                return loss.item()
            """)}, LINE_FIT_TEST, warned_in_text=True,
            label="no_grad 밖에서 가중치 바꾸기",
            hint=("autograd가 기록하는 동안 requires_grad=True 설정인 잎(leaf) 텐서를 바꿔치기(in-place) 연산으로 고치면 오류가 나요. "
                  "가중치 업데이트를 torch.no_grad() 블록 안에서 하는지 확인해 보세요.")),
    Mistake("line_fit_replaces_w", "assigns a new leaf tensor each step instead of updating w in place (right values)",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                self.w = (self.w - lr * self.w.grad).detach().requires_grad_()
                return loss.item()
            """)}, LINE_FIT_TEST, warned_in_text=True,
            label="가중치를 새 텐서로 바꿔 넣기",
            hint=("값은 맞지만, step마다 새 텐서를 만들어 self.w 속성에 대입하면 처음 만든 가중치 텐서는 그대로 남아요. "
                  "옵티마이저처럼 같은 텐서를 제자리에서(in-place) 고치는지 확인해 보세요.")),
    Mistake("line_fit_hard_coded_lr", "uses the learning rate of the visible test, 0.01, whatever lr it is given "
            "(passes the visible test)",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    self.w -= 0.01 * self.w.grad
                self.w.grad.zero_()
                return loss.item()
            """)}, LINE_FIT_TEST,
            label="학습률을 상수로 고정하기",
            hint="보이는 테스트의 학습률을 그대로 써서, 다른 학습률을 받아도 같은 만큼 움직여요. 업데이트에 쓰는 학습률이 step 메서드가 받은 lr 인자인지 확인해 보세요."),
    Mistake("line_fit_zeroes_before_update", "clears the gradient before using it, so w never moves",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                self.w.grad.zero_()
                with torch.no_grad():
                    self.w -= lr * self.w.grad
                return loss.item()
            """)}, LINE_FIT_TEST,
            label="쓰기 전에 기울기 지우기",
            hint="기울기를 업데이트에 쓰기 전에 지우면 가중치가 전혀 움직이지 않아요. 기울기를 지우는 일이 업데이트보다 뒤(또는 다음 backward 앞)에 오는지 순서를 확인해 보세요."),
    Mistake("line_fit_returns_tensor", "returns the loss tensor instead of a Python float",
            {LINE_FIT: _line_fit("""
                loss = ((X @ self.w - y) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    self.w -= lr * self.w.grad
                self.w.grad.zero_()
                return loss
            """)}, LINE_FIT_TEST,
            label="손실을 텐서로 돌려주기",
            hint="손실 텐서를 그대로 돌려주면 파이썬 float 값이 아니라 연산 그래프에 붙은 텐서가 나가요. 값이 하나인 텐서에서 파이썬 숫자를 꺼내는 메서드를 다시 찾아보세요."),
    # --- Softplus ----------------------------------------------------------------------------------------------
    Mistake("softplus_naive_forward", "log(1 + exp(x)) overflows to inf from x = 89 in float32",
            {SOFTPLUS: _function("Softplus", """
                def forward(ctx, x):
                    ctx.save_for_backward(x)
                    return torch.log(1 + torch.exp(x))
            """, SOFTPLUS_BACKWARD)}, SOFTPLUS_TEST, warned_in_text=True,
            label="log(1 + exp(x)) 식을 그대로 계산하기",
            hint=("x가 크면 지수 함수 값이 float32 범위를 넘어 inf가 돼요(오버플로). "
                  "큰 x에서도 넘치지 않게 식을 바꿔 쓰는 방법을 연습 문제 설명의 수치적 안정성 부분에서 다시 읽어 보세요.")),
    Mistake("softplus_unstable_sigmoid", "computes sigmoid as exp(x) / (1 + exp(x)): inf / inf = NaN for large x",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    return grad_output * torch.exp(x) / (1 + torch.exp(x))
            """)}, SOFTPLUS_TEST, warned_in_text=True,
            label="불안정한 식으로 sigmoid 계산하기",
            hint=("backward에서 sigmoid를 지수 함수의 비로 직접 계산하면 큰 x에서 inf / inf가 되어 NaN이 나와요. "
                  "도함수도 수치적 안정성을 지키는 함수나 식으로 계산하는지 확인해 보세요.")),
    Mistake("softplus_backward_ignores_grad_output", "backward returns the derivative without the chain rule",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    return torch.sigmoid(x)
            """)}, SOFTPLUS_TEST,
            label="backward에서 grad_output 인자 빼먹기",
            hint=("backward는 도함수만이 아니라, 받은 grad_output 인자를 곱한 값을 돌려줘야 해요(연쇄 법칙(chain rule)). "
                  "도함수에 grad_output 인자를 곱했는지 확인해 보세요.")),
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
            """)}, SOFTPLUS_TEST,
            label="출력을 저장해 sigmoid에 넣기",
            hint=("softplus의 도함수는 입력 x의 sigmoid인데, 이 답은 출력 y를 저장해서 sigmoid에 넣어요. "
                  "forward에서 저장하는 텐서가 backward의 식에 필요한 값인지 확인해 보세요.")),
    Mistake("softplus_in_place_on_saved_input", "backward applies sigmoid_ to the saved tensor, which is the caller's x",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    return grad_output * x.sigmoid_()
            """)}, SOFTPLUS_TEST, warned_in_text=True,
            label="저장한 입력을 바꿔치기(in-place)로 고치기",
            hint="저장한 텐서는 호출한 쪽의 x와 같은 텐서라서, 바꿔치기(in-place) 연산을 하면 입력 x가 바뀌어요. backward에서 밑줄로 끝나는 메서드를 썼는지 확인해 보세요."),
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
            """)}, SOFTPLUS_TEST, warned_in_text=True,
            label="backward 안에서 autograd 부르기",
            hint=("이 연습 문제의 backward는 자동 미분(autograd)에 맡기지 않고 도함수를 직접 계산해야 해요. "
                  "softplus를 미분한 식을 손으로 구해서 텐서 연산으로 옮겨 보세요.")),
    Mistake("softplus_backward_under_no_grad", "wraps backward in torch.no_grad: right first gradients, but they "
            "cannot be differentiated again (passes the visible test)",
            {SOFTPLUS: _function("Softplus", STABLE_SOFTPLUS_FORWARD, """
                def backward(ctx, grad_output):
                    (x,) = ctx.saved_tensors
                    with torch.no_grad():
                        return grad_output * torch.sigmoid(x)
            """)}, SOFTPLUS_TEST,
            label="backward를 no_grad 안에서 계산하기",
            hint=("backward를 torch.no_grad() 안에서 계산하면 첫 기울기는 맞지만 연산 그래프가 남지 않아 한 번 더 미분할 수 없어요. "
                  "기울기의 기울기도 구할 수 있게 backward 계산이 기록되는지 확인해 보세요.")),
    # --- LinearFunction ----------------------------------------------------------------------------------------
    Mistake("linear_ignores_grad_output", "multiplies by ones instead of grad_output",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    ones = torch.ones_like(grad_output)
                    return ones @ weight, ones.T @ x, ones.sum(dim=0)
            """)}, LINEAR_TEST,
            label="grad_output 대신 일(1) 곱하기",
            hint=("기울기는 받은 grad_output 인자를 연쇄 법칙(chain rule)으로 곱해서 구해야 하는데, 이 답은 모든 값이 일(1)인 텐서를 대신 써요. "
                  "backward의 세 기울기에 grad_output 인자가 들어가는지 확인해 보세요.")),
    Mistake("linear_gradients_in_wrong_order", "returns the weight gradient first",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    return grad_output.T @ x, grad_output @ weight, grad_output.sum(dim=0)
            """)}, LINEAR_TEST,
            label="기울기를 다른 순서로 돌려주기",
            hint=("backward가 돌려주는 기울기는 forward가 받은 입력의 순서(x, weight, bias)와 같아야 해요. "
                  "돌려주는 값의 순서와 각각의 모양(shape)을 확인해 보세요.")),
    Mistake("linear_weight_gradient_transposed", "x.T @ grad_output has the shape (in, out), not (out, in)",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    return grad_output @ weight, x.T @ grad_output, grad_output.sum(dim=0)
            """)}, LINEAR_TEST,
            label="가중치 기울기를 전치된 모양으로 구하기",
            hint=("가중치의 기울기는 weight와 모양(shape)이 같아야 하는데, 이 답은 전치(transpose)된 모양으로 나와요. "
                  "행렬곱에서 어느 쪽을 전치해야 (out, in) 모양이 되는지 다시 따져 보세요.")),
    Mistake("linear_bias_gradient_not_summed", "returns grad_output itself for the bias; autograd sums it silently "
            "(passes the visible test; every other requirement, needs_input_grad included, is met)",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    grad_x = grad_output @ weight if ctx.needs_input_grad[0] else None
                    grad_weight = grad_output.T @ x if ctx.needs_input_grad[1] else None
                    grad_bias = grad_output if ctx.needs_input_grad[2] else None
                    return grad_x, grad_weight, grad_bias
            """)}, LINEAR_TEST,
            label="편향 기울기를 배치 방향으로 더하지 않기",
            hint=("편향 하나가 배치의 모든 표본에 더해지므로, 편향의 기울기는 표본마다의 기울기를 배치 차원으로 더한 값이에요. "
                  "backward가 돌려준 편향 기울기의 모양(shape)이 bias와 같은지 확인해 보세요.")),
    Mistake("linear_ignores_needs_input_grad", "computes every gradient whether it is needed or not "
            "(passes the visible test)",
            {LINEAR: _function("LinearFunction", LINEAR_FORWARD, """
                def backward(ctx, grad_output):
                    x, weight = ctx.saved_tensors
                    return grad_output @ weight, grad_output.T @ x, grad_output.sum(dim=0)
            """)}, LINEAR_TEST,
            label="needs_input_grad 속성 무시하기",
            hint="기울기가 필요 없는 입력에도 기울기를 계산해서 돌려줘요. ctx.needs_input_grad 속성을 보고, 필요 없는 자리에는 None을 돌려주는지 확인해 보세요."),
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
            """)}, LINEAR_TEST, warned_in_text=True,
            label="backward 안에서 autograd로 미분하기",
            hint=("이 연습 문제의 backward는 자동 미분(autograd)에 맡기지 않고 세 입력의 기울기를 직접 계산해야 해요. "
                  "선형 변환의 출력을 x, 가중치, 편향으로 각각 미분한 식을 손으로 구해 보세요.")),
    # --- LogSumExp ---------------------------------------------------------------------------------------------
    Mistake("lse_naive", "log(sum(exp(x))) without the max trick overflows at |x| = 1000",
            {LSE: _function("LogSumExp", """
                def forward(ctx, x):
                    out = torch.log(torch.exp(x).sum(dim=1))
                    ctx.save_for_backward(x, out)
                    return out
            """, LSE_BACKWARD)}, LSE_TEST, warned_in_text=True,
            label="최댓값을 빼지 않고 log-sum-exp 계산하기",
            hint="x가 아주 크면 지수 함수 값이 float32 범위를 넘어 inf가 돼요(오버플로). 각 행의 최댓값을 빼고 계산한 뒤 다시 더하는 방법을 연습 문제 설명에서 다시 읽어 보세요."),
    Mistake("lse_naive_softmax_in_backward", "backward's softmax as exp(x) / sum(exp(x)): inf / inf = NaN",
            {LSE: _function("LogSumExp", LSE_FORWARD, """
                def backward(ctx, grad_output):
                    x, out = ctx.saved_tensors
                    return grad_output.unsqueeze(1) * torch.exp(x) / torch.exp(x).sum(dim=1, keepdim=True)
            """)}, LSE_TEST, warned_in_text=True,
            label="backward의 softmax를 불안정하게 계산하기",
            hint=("backward에서 지수 함수 값을 그대로 더해 나누는 식으로 softmax를 구하면 큰 x에서 inf / inf가 되어 NaN이 나와요. "
                  "forward에서 저장한 값을 써서 넘치지 않게 계산하는 방법을 생각해 보세요.")),
    Mistake("lse_max_without_keepdim", "subtracts a (N,) maximum from (N, C) rows: it broadcasts along the wrong axis",
            {LSE: _function("LogSumExp", """
                def forward(ctx, x):
                    m = x.max(dim=1).values
                    out = m + torch.log(torch.exp(x - m).sum(dim=1))
                    ctx.save_for_backward(x, out)
                    return out
            """, LSE_BACKWARD)}, LSE_TEST,
            label="keepdim 없이 행별 최댓값 빼기",
            hint=("행마다 구한 최댓값은 (N,) 모양이라서 (N, C) 텐서에서 빼면 행이 아니라 열 방향으로 브로드캐스팅(broadcasting)돼요. "
                  "최댓값 텐서의 모양(shape)이 각 행에 맞게 빼지는지 확인해 보세요.")),
    Mistake("lse_backward_ignores_grad_output", "returns softmax without multiplying by grad_output",
            {LSE: _function("LogSumExp", LSE_FORWARD, """
                def backward(ctx, grad_output):
                    x, out = ctx.saved_tensors
                    return torch.exp(x - out.unsqueeze(1))
            """)}, LSE_TEST,
            label="backward에서 grad_output 인자 빼먹기",
            hint=("backward는 softmax만이 아니라, 받은 grad_output 인자를 행마다 곱한 값을 돌려줘야 해요(연쇄 법칙(chain rule)). "
                  "grad_output 인자를 곱했는지, 모양(shape)을 맞춰 곱했는지 확인해 보세요.")),
    Mistake("lse_global_max", "subtracts the maximum of the whole tensor: rows far below it underflow to log(0) "
            "(passes the visible test)",
            {LSE: _function("LogSumExp", """
                def forward(ctx, x):
                    m = x.max()
                    out = m + torch.log(torch.exp(x - m).sum(dim=1))
                    ctx.save_for_backward(x, out)
                    return out
            """, LSE_BACKWARD)}, LSE_TEST,
            label="행별이 아니라 전체 최댓값 빼기",
            hint="텐서 전체의 최댓값을 빼면 그보다 훨씬 작은 값만 있는 행은 지수 값이 모두 영(0)으로 사라져 로그가 -inf가 돼요. 최댓값을 행마다 따로 구하는지 확인해 보세요."),
    # --- hvp ---------------------------------------------------------------------------------------------------
    Mistake("hvp_without_create_graph", "the first gradient is not recorded, so it cannot be differentiated again",
            {HVP: cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x)
                    (product,) = torch.autograd.grad((grad * v).sum(), x)
                    return product
            """)}, HVP_TEST, warned_in_text=True,
            label="create_graph 없이 첫 기울기 구하기",
            hint=("첫 번째 기울기를 구할 때 연산 그래프를 남기지 않으면 그 기울기를 다시 미분할 수 없어요. "
                  "첫 번째 torch.autograd.grad 호출이 그래프를 만들도록 했는지 확인해 보세요.")),
    Mistake("hvp_returns_gradient", "returns the gradient of f, not H v",
            {HVP: cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x)
                    return grad
            """)}, HVP_TEST,
            label="H v 대신 기울기 돌려주기",
            hint="f의 기울기는 헤시안(Hessian)과 v의 곱이 아니에요. 기울기를 구한 다음 v와 곱해서 한 번 더 미분했는지 확인해 보세요."),
    Mistake("hvp_ignores_v", "differentiates the sum of the gradient: H times a vector of ones",
            {HVP: cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
                    (product,) = torch.autograd.grad(grad.sum(), x)
                    return product
            """)}, HVP_TEST,
            label="v 없이 기울기의 합을 미분하기",
            hint="기울기의 합을 미분하면 모든 값이 일(1)인 벡터와 헤시안(Hessian)의 곱이 나와요. 두 번째로 미분하기 전에 기울기에 v를 곱해서 더했는지 확인해 보세요."),
    Mistake("hvp_dot_product", "torch.dot needs 1-D tensors: a 2-D x fails (passes the visible test)",
            {HVP: cell("""
                def hvp(f, x, v):
                    x = x.detach().requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
                    (product,) = torch.autograd.grad(torch.dot(grad, v), x)
                    return product
            """)}, HVP_TEST,
            label="1차원에서만 되는 torch.dot 함수 쓰기",
            hint="torch.dot 함수는 1차원 텐서끼리만 받아서, x가 2차원이면 오류가 나요. 모양(shape)에 상관없이 기울기와 v를 원소별로 곱해 더할 수 있는지 확인해 보세요."),
    Mistake("hvp_marks_callers_input", "calls requires_grad_() on the caller's x (passes the visible test)",
            {HVP: cell("""
                def hvp(f, x, v):
                    x.requires_grad_()
                    (grad,) = torch.autograd.grad(f(x), x, create_graph=True)
                    (product,) = torch.autograd.grad((grad * v).sum(), x)
                    return product
            """)}, HVP_TEST,
            label="호출한 쪽의 x에 requires_grad 켜기",
            hint=("넘겨받은 x에 직접 requires_grad_() 메서드를 부르면 호출한 쪽의 텐서 설정이 바뀌어요. "
                  "입력은 그대로 두고, 떼어 낸(detach) 텐서나 복사한 텐서로 미분하는지 확인해 보세요.")),
]

ALTERNATIVES = [
    Alternative("mse_grad_einsum", {MSE: cell("""
        def mse_grad(X, y, w):
            residual = torch.einsum("nd,d->n", X, w) - y
            return torch.einsum("nd,n->d", X, residual) * (2 / len(y))
    """)}),
    Alternative("mse_grad_mean_of_rows", {MSE: cell("""
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
    Alternative("hvp_functional", {HVP: cell("""
        def hvp(f, x, v):
            return torch.autograd.functional.hvp(f, x, v)[1]
    """)}),
    Alternative("hvp_forward_over_reverse", {HVP: cell("""
        def hvp(f, x, v):
            return torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]
    """)}),
    Alternative("hvp_vdot_on_flat", {HVP: cell("""
        def hvp(f, x, v):
            leaf = x.clone().requires_grad_(True)
            grad = torch.autograd.grad(f(leaf), leaf, create_graph=True)[0]
            return torch.autograd.grad(torch.vdot(grad.flatten(), v.flatten()), leaf)[0].detach()
    """)}),
]
