"""Mistake bank and correct alternatives of 00_tensors."""

from __future__ import annotations

from autograder.mistakes import Alternative, Mistake, cell

SEEDED_RAND = "seeded_rand_solution"
PICK_DEVICE = "pick_device_solution"
NUMPY = "numpy_to_float32_solution"
FLATTEN = "flatten_per_sample_solution"
ROWS = "row_proportions_solution"
CLIP = "clip_negatives_solution"
COLUMNS = "column_sums_solution"
PREFIX = "prefix_sums_solution"

SEEDED_RAND_TEST = ("seeded_rand_reproducible_without_global_seed",)
PICK_DEVICE_TEST = ("pick_device_follows_cuda_availability",)
NUMPY_TEST = ("numpy_to_float32_copies",)
FLATTEN_TEST = ("flatten_per_sample_shapes",)
ROWS_TEST = ("row_proportions_divides_by_row_sums",)
CLIP_TEST = ("clip_negatives_out_of_place",)
COLUMNS_TEST = ("column_sums_starts_from_zero",)
PREFIX_TEST = ("prefix_sums_fills_every_element",)

MISTAKES = [
    # --- seeded_rand -------------------------------------------------------------------------------------------
    Mistake("seeded_rand_global_seed", "seeds the global RNG with torch.manual_seed (passes the visible test)",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    torch.manual_seed(seed)
                    return torch.rand(shape)
            """)}, SEEDED_RAND_TEST, warned_in_text=True,
            label="전역 시드(global seed) 바꾸기",
            hint=("torch.manual_seed 함수는 프로그램 전체가 함께 쓰는 전역 난수 상태를 바꿔요. 시드는 이 함수만 쓰는 전용 생성기(torch.Generator)에 정해야 하는지 "
                  "연습 문제 설명을 다시 읽어 보세요.")),
    Mistake("seeded_rand_normal", "draws from a normal distribution with randn",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
            """)}, SEEDED_RAND_TEST,
            label="정규분포(randn)에서 뽑기",
            hint="torch.randn 함수는 평균이 영(0)인 정규분포에서 뽑아서 음수나 아주 큰 값도 나와요. [0, 1) 구간의 균등분포를 주는 함수가 무엇인지 다시 확인해 보세요."),
    Mistake("seeded_rand_unseeded", "forgets the seed entirely",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    return torch.rand(shape)
            """)}, SEEDED_RAND_TEST,
            label="seed 인자를 쓰지 않기",
            hint="받은 seed를 쓰지 않으면 같은 seed로 불러도 매번 다른 값이 나오고, 전역 난수 상태도 바뀌어요. 받은 seed로 초기화한 전용 생성기를 쓰는지 확인해 보세요."),
    Mistake("seeded_rand_fixed_seed", "seeds the generator with a constant instead of the argument",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    return torch.rand(shape, generator=torch.Generator().manual_seed(0))
            """)}, SEEDED_RAND_TEST,
            label="고정된 시드 쓰기",
            hint="생성기의 시드를 상수로 정하면 seed가 달라도 늘 같은 값이 나와요. 생성기에 넘기는 시드가 함수의 seed 인자인지 확인해 보세요."),
    Mistake("seeded_rand_float64", "returns float64 instead of the default float32",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            """)}, SEEDED_RAND_TEST,
            label="float64 자료형으로 만들기",
            hint="결과의 자료형(dtype)이 float64 자료형으로 나와요. 연습 문제는 PyTorch의 기본 실수 자료형을 요구해요. 자료형을 따로 지정하지 않았는지 확인해 보세요."),
    Mistake("seeded_rand_sigmoid_normal", "squashes randn with sigmoid: inside [0, 1) with mean 0.5, but not uniform",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    return torch.sigmoid(torch.randn(shape, generator=torch.Generator().manual_seed(seed)))
            """)}, SEEDED_RAND_TEST,
            label="정규분포를 sigmoid로 눌러 담기",
            hint="정규분포 난수에 sigmoid를 씌우면 값은 [0, 1) 구간 안에 들어오지만 가운데에 몰려서 균등분포가 아니에요. 구간 안에 고르게 퍼진 난수를 주는 함수를 다시 찾아보세요."),
    Mistake("seeded_rand_numpy_global_seed", "seeds NumPy's global RNG with np.random.seed (the text forbids it)",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    np.random.seed(seed)
                    return torch.from_numpy(np.random.rand(*shape).astype(np.float32))
            """)}, SEEDED_RAND_TEST, warned_in_text=True,
            label="NumPy 전역 시드 바꾸기",
            hint="np.random.seed 함수도 NumPy의 전역 난수 상태를 바꿔요. 연습 문제 설명에서 전역 난수 상태에 대해 무엇이라고 했는지 다시 읽어 보세요."),
    Mistake("seeded_rand_assumes_2d", "unpacks shape into rows and columns: only 2-D shapes work",
            {SEEDED_RAND: cell("""
                def seeded_rand(shape, seed):
                    rows, cols = shape
                    return torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed))
            """)}, SEEDED_RAND_TEST,
            label="2차원 모양만 가정하기",
            hint="shape를 행과 열 두 개로 풀면 1차원이나 3차원 모양에서 오류가 나요. 모양(shape)을 풀지 않고 통째로 넘길 수 있는지 확인해 보세요."),
    # --- pick_device -------------------------------------------------------------------------------------------
    Mistake("pick_device_always_cpu", "hard-codes the CPU (passes the visible test on a laptop without a GPU)",
            {PICK_DEVICE: cell("""
                def pick_device():
                    return torch.device("cpu")
            """)}, PICK_DEVICE_TEST,
            twins=("pick_device_decided_at_definition",),
            label="언제나 CPU 돌려주기",
            hint="GPU가 있는 컴퓨터에서도 CPU를 돌려줘요. 내 노트북에서 통과했더라도, 함수를 부를 때 GPU를 쓸 수 있는지 확인해서 장치를 골라야 해요."),
    Mistake("pick_device_always_cuda", "hard-codes CUDA",
            {PICK_DEVICE: cell("""
                def pick_device():
                    return torch.device("cuda")
            """)}, PICK_DEVICE_TEST,
            twins=("pick_device_uncalled_check", "pick_device_decided_at_definition"),
            label="언제나 CUDA 돌려주기",
            hint="GPU가 없는 컴퓨터에서도 CUDA 장치를 돌려줘요. GPU를 쓸 수 있는지 확인한 결과에 따라 장치를 골라야 해요."),
    Mistake("pick_device_uncalled_check", "tests the function object torch.cuda.is_available, which is always truthy",
            {PICK_DEVICE: cell("""
                def pick_device():
                    return torch.device("cuda" if torch.cuda.is_available else "cpu")
            """)}, PICK_DEVICE_TEST,
            twins=("pick_device_always_cuda", "pick_device_decided_at_definition"),
            label="is_available 뒤의 괄호 빠뜨리기",
            hint="괄호 없이 쓴 torch.cuda.is_available 함수 객체는 언제나 참으로 취급돼요. 함수를 실제로 불렀는지 확인해 보세요."),
    Mistake("pick_device_decided_at_definition", "checks once when the cell runs, not each time it is called",
            {PICK_DEVICE: cell("""
                DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

                def pick_device():
                    return DEVICE
            """)}, PICK_DEVICE_TEST,
            # Decided on the grading machine: always the CPU there, or always CUDA on a machine with a GPU.
            twins=("pick_device_always_cpu", "pick_device_always_cuda", "pick_device_uncalled_check"),
            label="셀을 실행할 때 한 번만 정하기",
            hint="장치를 함수 밖에서 한 번 정해 두면, 함수를 부를 때의 환경이 달라도 같은 값이 나와요. 확인하는 코드가 함수 안에 있는지 다시 보세요."),
    Mistake("pick_device_accelerator_unchecked", "current_accelerator() names CUDA on a CUDA build without a GPU",
            {PICK_DEVICE: cell("""
                def pick_device():
                    return torch.accelerator.current_accelerator() or torch.device("cpu")
            """)}, PICK_DEVICE_TEST,
            label="쓸 수 있는지 확인하지 않은 가속기",
            hint=("torch.accelerator.current_accelerator 함수는 CUDA용 PyTorch라면 GPU가 없어도 CUDA 장치를 알려 줄 수 있어요. 그 장치를 지금 "
                  "실제로 쓸 수 있는지도 확인해야 해요.")),
    # --- numpy_to_float32 --------------------------------------------------------------------------------------
    Mistake("numpy_from_numpy_float", "from_numpy(...).float() shares memory when the array is already float32",
            {NUMPY: cell("""
                def numpy_to_float32(arr):
                    return torch.from_numpy(arr).float()
            """)}, NUMPY_TEST, warned_in_text=True,
            twins=("numpy_as_tensor", "numpy_legacy_float_tensor"),
            label="from_numpy 뒤에 .float() 붙이기",
            hint=("배열이 이미 float32 자료형이면 .float() 메서드는 복사하지 않고 그대로 돌려줘서, 결과 텐서가 배열과 메모리를 공유해요. 배열을 바꿔도 결과가 그대로인지 직접 확인해"
                  " 보세요.")),
    Mistake("numpy_as_tensor", "as_tensor shares memory when no conversion is needed",
            {NUMPY: cell("""
                def numpy_to_float32(arr):
                    return torch.as_tensor(arr, dtype=torch.float32)
            """)}, NUMPY_TEST, warned_in_text=True,
            twins=("numpy_from_numpy_float", "numpy_legacy_float_tensor"),
            label="as_tensor 쓰기 (메모리 공유)",
            hint="torch.as_tensor 함수는 자료형을 바꿀 필요가 없으면 복사하지 않고 배열의 메모리를 그대로 써요. 늘 복사하는 방법이 무엇인지 다시 확인해 보세요."),
    Mistake("numpy_from_numpy_only", "from_numpy keeps float64 and shares memory",
            {NUMPY: cell("""
                def numpy_to_float32(arr):
                    return torch.from_numpy(arr)
            """)}, NUMPY_TEST, warned_in_text=True,
            label="from_numpy 하나만 쓰기",
            hint="torch.from_numpy 함수는 배열의 자료형(float64 등)을 그대로 두고 메모리도 공유해요. 자료형 변환과 복사가 둘 다 되는지 확인해 보세요."),
    Mistake("numpy_tensor_keeps_dtype", "torch.tensor copies but keeps the array's dtype",
            {NUMPY: cell("""
                def numpy_to_float32(arr):
                    return torch.tensor(arr)
            """)}, NUMPY_TEST,
            label="자료형 지정 없이 torch.tensor 쓰기",
            hint=("torch.tensor 함수는 복사는 하지만 배열의 자료형을 그대로 따라요. 그래서 float64 배열이나 정수 배열은 float32 자료형가 되지 않아요. 결과의 자료형을 "
                  "정했는지 확인해 보세요.")),
    Mistake("numpy_legacy_float_tensor", "torch.FloatTensor(arr), the old constructor, shares a float32 array's memory",
            {NUMPY: cell("""
                def numpy_to_float32(arr):
                    return torch.FloatTensor(arr)
            """)}, NUMPY_TEST, warned_in_text=True,
            twins=("numpy_from_numpy_float", "numpy_as_tensor"),
            label="옛 생성자 torch.FloatTensor 쓰기",
            hint="torch.FloatTensor 같은 옛 생성자는 float32 배열을 받으면 복사하지 않고 메모리를 공유해요. 늘 복사하는 요즘 방법을 써 보세요."),
    Mistake("numpy_scales_integers", "divides integer arrays by 255 as torchvision's ToTensor does for images",
            {NUMPY: cell("""
                def numpy_to_float32(arr):
                    result = torch.tensor(arr, dtype=torch.float32)
                    if arr.dtype.kind in "iu":
                        result = result / 255
                    return result
            """)}, NUMPY_TEST,
            label="정수 배열을 이미지처럼 나누기",
            hint="이미지 전처리(ToTensor 같은 torchvision 변환)처럼 정수를 255 값으로 나누면 값이 바뀌어요. 이 연습 문제는 값을 그대로 둔 채 자료형만 바꿔요."),
    # --- flatten_per_sample ------------------------------------------------------------------------------------
    Mistake("flatten_view", "view fails on non-contiguous input (passes the visible test)",
            {FLATTEN: cell("""
                def flatten_per_sample(batch):
                    return batch.view(batch.shape[0], -1)
            """)}, FLATTEN_TEST, warned_in_text=True,
            label="연속이 아닌 텐서에 view 쓰기",
            hint=("view 메서드는 메모리가 연속인(contiguous) 텐서에서만 모양을 바꿀 수 있어서, permute나 transpose로 만든 입력에서 오류가 나요. 연속이 아니어도 되는 "
                  "방법을 떠올려 보세요.")),
    Mistake("flatten_hardcoded_4d", "assumes a 4-D image batch",
            {FLATTEN: cell("""
                def flatten_per_sample(batch):
                    n, c, h, w = batch.shape
                    return batch.reshape(n, c * h * w)
            """)}, FLATTEN_TEST,
            label="4차원 입력만 가정하기",
            hint="모양을 네 개의 값으로 풀면 4차원이 아닌 배치에서 오류가 나요. 첫 차원(샘플 수)만 남기고 나머지를 모두 펴는 방법을 생각해 보세요."),
    Mistake("flatten_everything", "flattens the batch dimension too",
            {FLATTEN: cell("""
                def flatten_per_sample(batch):
                    return batch.flatten()
            """)}, FLATTEN_TEST,
            label="배치 차원까지 모두 펴기",
            hint="배치 차원까지 한 줄로 펴면 샘플이 구분되지 않아요. 결과 모양의 첫 차원이 샘플 수인지 확인해 보세요."),
    Mistake("flatten_last_dim", "keeps the last dimension instead of the first",
            {FLATTEN: cell("""
                def flatten_per_sample(batch):
                    return batch.reshape(-1, batch.shape[-1])
            """)}, FLATTEN_TEST,
            label="마지막 차원을 남기기",
            hint="마지막 차원을 남기고 앞을 합치면 샘플마다 한 행이 되지 않아요. 남겨야 하는 건 첫 차원(배치)이에요."),
    # --- row_proportions ---------------------------------------------------------------------------------------
    Mistake("rows_without_keepdim", "divides by sum(dim=1) without keepdim: square inputs broadcast along columns",
            {ROWS: cell("""
                def row_proportions(x):
                    return x / x.sum(dim=1)
            """)}, ROWS_TEST, warned_in_text=True,
            label="keepdim 없이 행 합으로 나누기",
            hint=("keepdim 없이 구한 행 합은 1차원이라서, 나눌 때 열 방향으로 브로드캐스팅(broadcasting)돼요. 정사각 행렬에서는 오류도 나지 않아요. 합의 모양을 나눌 텐서에 "
                  "맞췄는지 확인해 보세요.")),
    Mistake("rows_column_sums", "divides by column sums",
            {ROWS: cell("""
                def row_proportions(x):
                    return x / x.sum(dim=0, keepdim=True)
            """)}, ROWS_TEST,
            label="열 합으로 나누기",
            hint="dim=0 방향으로 더하면 열마다의 합이 나와요. 어느 차원(dim)을 따라 더해야 행마다의 합이 되는지 다시 확인해 보세요."),
    Mistake("rows_global_sum", "divides by the sum of the whole tensor",
            {ROWS: cell("""
                def row_proportions(x):
                    return x / x.sum()
            """)}, ROWS_TEST,
            label="전체 합으로 나누기",
            hint="텐서 전체의 합으로 나누면 모든 원소를 같은 수로 나누게 돼요. 각 원소를 그 원소가 속한 행의 합으로 나눠야 해요."),
    Mistake("rows_in_place", "divides in place, changing the caller's tensor (passes the visible test)",
            {ROWS: cell("""
                def row_proportions(x):
                    return x.div_(x.sum(dim=1, keepdim=True))
            """)}, ROWS_TEST, warned_in_text=True,
            label="입력을 바꿔치기(in-place)로 나누기",
            hint="이름이 밑줄(_)로 끝나는 메서드(div_ 같은)는 입력 텐서 자체를 바꿔요. 호출한 쪽의 데이터가 그대로 남도록 새 텐서를 만들어 돌려주세요."),
    Mistake("rows_float_cast", "adds .float() to the result: float64 inputs come back as float32",
            {ROWS: cell("""
                def row_proportions(x):
                    return (x / x.sum(dim=1, keepdim=True)).float()
            """)}, ROWS_TEST,
            label="결과에 .float() 붙이기",
            hint="결과에 .float() 메서드를 붙이면 float64 입력의 결과도 float32 자료형가 돼요. 결과의 자료형은 입력의 자료형을 따라야 해요."),
    # --- clip_negatives ----------------------------------------------------------------------------------------
    Mistake("clip_mask_assign_in_place", "assigns through a mask on the input itself",
            {CLIP: cell("""
                def clip_negatives(x):
                    x[x < 0] = 0
                    return x
            """)}, CLIP_TEST, warned_in_text=True,
            twins=("clip_clamp_in_place",),
            label="입력에 마스크로 대입하기",
            hint="입력 텐서에 마스크로 직접 대입하면 호출한 쪽의 텐서도 바뀌어요. 바꾸기 전에 복사본을 만들었는지, 또는 새 텐서를 돌려주는 연산을 썼는지 확인해 보세요."),
    Mistake("clip_clamp_in_place", "uses the in-place clamp_",
            {CLIP: cell("""
                def clip_negatives(x):
                    return x.clamp_(min=0)
            """)}, CLIP_TEST, warned_in_text=True,
            twins=("clip_mask_assign_in_place",),
            label="바꿔치기(in-place) clamp_ 쓰기",
            hint="이름이 밑줄(_)로 끝나는 clamp_ 메서드는 입력 텐서 자체를 바꿔요. 밑줄 없는 연산은 새 텐서를 돌려줘요."),
    Mistake("clip_empty_partially_written", "copies the positives into torch.empty_like and never writes the rest",
            {CLIP: cell("""
                def clip_negatives(x):
                    out = torch.empty_like(x)
                    keep = x > 0
                    out[keep] = x[keep]
                    return out
            """)}, CLIP_TEST, warned_in_text=True,
            label="빈 텐서(torch.empty_like)의 일부 칸만 채우기",
            hint=("torch.empty_like 함수로 만든 텐서는 초기화되지 않은 메모리예요. 양수 칸만 채우면 나머지 칸에는 쓰레기 값(garbage value)이 남아요. 모든 칸에 값을 "
                  "썼는지 확인해 보세요.")),
    Mistake("clip_empty_where_hides_nan", "reads garbage through torch.where: NaN filling alone cannot see this",
            {CLIP: cell("""
                def clip_negatives(x):
                    out = torch.empty_like(x)
                    keep = x > 0
                    out[keep] = x[keep]
                    return torch.where(out > 0, out, 0.0)
            """)}, CLIP_TEST,
            label="쓰레기 값을 where 연산으로 가리기",
            hint=("값을 쓰지 않은 칸을 나중에 where 연산으로 골라내도, 그 칸의 쓰레기 값(garbage value)을 읽는 건 그대로예요. 처음부터 모든 칸에 값을 쓰는 텐서로 시작해 "
                  "보세요.")),
    Mistake("clip_float_zero_promotes_dtype", "torch.where with a new float32 zeros tensor changes float64 inputs",
            {CLIP: cell("""
                def clip_negatives(x):
                    return torch.where(x < 0, torch.zeros(x.shape), x).float()
            """)}, CLIP_TEST,
            label="기본 자료형의 영(0) 텐서와 섞기",
            hint=("torch.zeros 함수에 모양만 주면 기본 자료형(float32) 텐서가 나와서, float64 입력의 결과 자료형이 달라져요. 새로 만드는 텐서와 결과의 자료형을 입력에 "
                  "맞췄는지 확인해 보세요.")),
    # --- column_sums -------------------------------------------------------------------------------------------
    Mistake("columns_original_bug", "keeps accumulating into torch.empty",
            {COLUMNS: cell("""
                def column_sums(x):
                    total = torch.empty(x.shape[1])
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST, warned_in_text=True,
            label="초기화하지 않은 텐서(torch.empty)에 더하기",
            hint=("torch.empty 함수는 값을 채우지 않아서 처음부터 쓰레기 값(garbage value)이 들어 있어요. 그 위에 더하면 결과도 쓰레기 값이에요. 합을 담을 텐서를 어떻게 "
                  "시작해야 하는지 다시 생각해 보세요.")),
    Mistake("columns_nan_to_num", "hides the NaN of the visible test with nan_to_num (passes the visible test)",
            {COLUMNS: cell("""
                def column_sums(x):
                    total = torch.nan_to_num(torch.empty(x.shape[1], dtype=x.dtype))
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST,
            label="NaN만 지우는 nan_to_num 쓰기",
            hint=("nan_to_num 함수는 NaN만 영(0)으로 바꿔요. 쓰레기 값은 NaN이 아닐 때가 더 많아서, 보이는 테스트를 통과해도 채점에서는 틀려요. 처음부터 초기화된 텐서로 시작해"
                  " 보세요.")),
    Mistake("columns_float_zeros", "starts from float32 zeros, so integer inputs give float sums",
            {COLUMNS: cell("""
                def column_sums(x):
                    total = torch.zeros(x.shape[1])
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST, warned_in_text=True,
            label="자료형 없이 torch.zeros 쓰기",
            hint="자료형을 지정하지 않은 torch.zeros 텐서는 float32 자료형라서, 정수 입력의 합도 실수가 돼요. 합을 담을 텐서의 자료형을 입력에 맞췄는지 확인해 보세요."),
    Mistake("columns_alias_first_row", "starts from x[0], a view, and so adds into the caller's tensor",
            {COLUMNS: cell("""
                def column_sums(x):
                    total = x[0]
                    for row in x[1:]:
                        total += row
                    return total
            """)}, COLUMNS_TEST, warned_in_text=True,
            label="첫 행(뷰)에 더해 나가기",
            hint="첫 행을 인덱싱(indexing)으로 꺼내면 복사본이 아니라 같은 데이터를 보는 뷰(view)예요. 그 위에 더하면 호출한 쪽의 입력 텐서가 바뀌어요."),
    Mistake("columns_wrong_length", "allocates one entry per row instead of per column",
            {COLUMNS: cell("""
                def column_sums(x):
                    total = torch.zeros(x.shape[0], dtype=x.dtype)
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST,
            label="행 수만큼의 합 텐서 만들기",
            hint="합을 담을 텐서의 길이를 행 수로 만들었어요. 열별 합은 열마다 하나씩이라서 길이가 열 수여야 해요. 어느 차원의 크기를 썼는지 확인해 보세요."),
    Mistake("columns_int_or_float32", "keeps integers as the text asks but turns every float input into float32",
            {COLUMNS: cell("""
                def column_sums(x):
                    total = torch.zeros(x.shape[1], dtype=torch.int64 if x.dtype == torch.int64 else torch.float32)
                    for row in x:
                        total += row
                    return total
            """)}, COLUMNS_TEST,
            label="실수 입력의 자료형을 하나로 고정하기",
            hint="정수 입력만 따로 처리하고 실수 입력은 모두 float32 자료형로 만들어서, float64 입력의 합이 달라져요. 입력의 자료형을 그대로 따르게 해 보세요."),
    # --- prefix_sums -------------------------------------------------------------------------------------------
    Mistake("prefix_skips_first", "starts the loop at 1 and never writes out[0]",
            {PREFIX: cell("""
                def prefix_sums(x):
                    out = torch.empty_like(x)
                    for i in range(1, len(x)):
                        out[i] = out[i - 1] + x[i]
                    return out
            """)}, PREFIX_TEST, warned_in_text=True,
            label="첫 칸을 채우지 않기",
            hint="반복을 두 번째 칸부터 시작하면 첫 칸은 쓰레기 값(garbage value)으로 남아요. 첫 칸의 누적 합이 무엇인지 다시 생각해 보세요."),
    Mistake("prefix_reads_before_write", "out[0] = out[-1] + x[0] reads the unwritten last element",
            {PREFIX: cell("""
                def prefix_sums(x):
                    out = torch.empty_like(x)
                    for i in range(len(x)):
                        out[i] = out[i - 1] + x[i]
                    return out
            """)}, PREFIX_TEST, warned_in_text=True,
            label="쓰기 전에 이전 칸 읽기",
            hint="첫 칸을 계산할 때 이전 칸을 읽으면, 파이썬의 음수 인덱스 때문에 아직 쓰지 않은 마지막 칸의 쓰레기 값을 더하게 돼요. 첫 칸은 따로 다뤄야 하는지 생각해 보세요."),
    Mistake("prefix_skips_last", "off by one: the last element stays uninitialized",
            {PREFIX: cell("""
                def prefix_sums(x):
                    out = torch.empty_like(x)
                    running = 0
                    for i in range(len(x) - 1):
                        running = running + x[i]
                        out[i] = running
                    return out
            """)}, PREFIX_TEST, warned_in_text=True,
            label="마지막 칸을 채우지 않기",
            hint="반복 범위가 하나 모자라서 마지막 칸이 쓰레기 값(garbage value)으로 남아요. range의 끝 값을 다시 확인해 보세요."),
    Mistake("prefix_float32_buffer", "preallocates float32 whatever the input dtype",
            {PREFIX: cell("""
                def prefix_sums(x):
                    out = torch.empty(len(x))
                    running = 0
                    for i in range(len(x)):
                        running = running + x[i]
                        out[i] = running
                    return out
            """)}, PREFIX_TEST,
            label="자료형 없이 미리 할당하기",
            hint=("torch.empty 함수에 길이만 주면 float32 자료형 텐서가 나와서, 정수나 float64 입력의 결과 자료형이 달라요. 미리 할당하는 텐서의 자료형을 입력에 맞춰 "
                  "보세요.")),
]

ALTERNATIVES = [
    Alternative("seeded_rand_two_step_generator", {SEEDED_RAND: cell("""
        def seeded_rand(shape, seed):
            g = torch.Generator()
            g.manual_seed(seed)
            return torch.empty(shape).uniform_(0, 1, generator=g)
    """)}),
    Alternative("seeded_rand_numpy_generator", {SEEDED_RAND: cell("""
        def seeded_rand(shape, seed):
            rng = np.random.default_rng(seed)
            return torch.from_numpy(rng.random(shape, dtype=np.float32))
    """)}),
    Alternative("pick_device_string", {PICK_DEVICE: cell("""
        def pick_device():
            if torch.cuda.is_available():
                return "cuda"
            return "cpu"
    """)}),
    Alternative("pick_device_device_count", {PICK_DEVICE: cell("""
        def pick_device():
            return torch.device("cuda" if torch.cuda.device_count() > 0 else "cpu")
    """)}),
    Alternative("pick_device_imported_is_available", {PICK_DEVICE: cell("""
        from torch.cuda import is_available

        def pick_device():
            return torch.device("cuda") if is_available() else torch.device("cpu")
    """)}),
    Alternative("pick_device_accelerator_checked", {PICK_DEVICE: cell("""
        def pick_device():
            accelerator = torch.accelerator.current_accelerator(check_available=True)
            if accelerator is not None and accelerator.type == "cuda":
                return accelerator
            return torch.device("cpu")
    """)}),
    Alternative("numpy_astype_then_from_numpy", {NUMPY: cell("""
        def numpy_to_float32(arr):
            return torch.from_numpy(arr.astype(np.float32))
    """)}),
    Alternative("numpy_from_numpy_clone", {NUMPY: cell("""
        def numpy_to_float32(arr):
            return torch.from_numpy(arr).to(torch.float32).clone()
    """)}),
    Alternative("flatten_start_dim", {FLATTEN: cell("""
        def flatten_per_sample(batch):
            return torch.flatten(batch, start_dim=1)
    """)}),
    Alternative("flatten_contiguous_view", {FLATTEN: cell("""
        def flatten_per_sample(batch):
            return batch.contiguous().view(len(batch), -1)
    """)}),
    Alternative("rows_negative_dim", {ROWS: cell("""
        def row_proportions(x):
            totals = x.sum(dim=-1).unsqueeze(1)
            return x / totals
    """)}),
    Alternative("clip_clamp", {CLIP: cell("""
        def clip_negatives(x):
            return x.clamp(min=0)
    """)}),
    Alternative("clip_clone_then_mask", {CLIP: cell("""
        def clip_negatives(x):
            y = x.clone()
            y[y < 0] = 0
            return y
    """)}),
    Alternative("clip_relu", {CLIP: cell("""
        def clip_negatives(x):
            return torch.relu(x)
    """)}),
    Alternative("columns_empty_then_zero", {COLUMNS: cell("""
        def column_sums(x):
            total = torch.empty(x.shape[1], dtype=x.dtype)
            total.zero_()
            for row in x:
                total += row
            return total
    """)}),
    Alternative("columns_builtin_sum", {COLUMNS: cell("""
        def column_sums(x):
            return x.sum(dim=0)
    """)}),
    Alternative("prefix_first_then_loop", {PREFIX: cell("""
        def prefix_sums(x):
            out = torch.empty_like(x)
            if len(x) > 0:
                out[0] = x[0]
            for i in range(1, len(x)):
                out[i] = out[i - 1] + x[i]
            return out
    """)}),
    Alternative("prefix_cumsum", {PREFIX: cell("""
        def prefix_sums(x):
            return torch.cumsum(x, dim=0)
    """)}),
    Alternative("prefix_cumsum_out", {PREFIX: cell("""
        def prefix_sums(x):
            out = torch.empty_like(x)
            torch.cumsum(x, dim=0, out=out)
            return out
    """)}),
]
