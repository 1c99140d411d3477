"""Answers a class of students gives, per exercise: right ones written other ways, which every check
must accept, and common mistakes, which must be rejected, publicly where a check can tell, at the
latest by a hidden test whose message says why.

Each answer is the master's answer cell with some text replaced (``{old: new}``), or a whole cell (a
string). tests/repository/test_exercises.py runs them all in the student notebooks, in the student environment,
beside the master's answer, without another execution of the notebook.

``kind``: "accept" (every check passes), "public" (the student's own check fails), "hidden" (a hidden
test fails; the public check may pass). ``restore``: the answer changes the notebook's networks (an
alias instead of a copy), so their weights are put back after it.
"""

from __future__ import annotations

import re

ACCEPT, PUBLIC, HIDDEN = "accept", "public", "hidden"

ANSWERS: dict[str, list[tuple]] = {
    "ex01_1": [
        (ACCEPT, {"S_ex = 1.0": "S_ex = M_ex.mean()"}),
        (ACCEPT, {"M_ex = torch.tensor([[2.0, -3.0], [3.0, 2.0]])": "M_ex = 2 * feats_ex[0, 0] - feats_ex[0, 1]"}),
        (PUBLIC, {"S_ex = 1.0": "S_ex = 4.0"}),  # the sum, not the mean
        (PUBLIC, {"M_ex = torch.tensor([[2.0, -3.0], [3.0, 2.0]])": "M_ex = torch.tensor([[2.0, 3.0], [-3.0, 2.0]])"}),
    ],
    "ex01_2": [
        (ACCEPT, {"maps_ex2.shape[-2] * maps_ex2.shape[-1]": "maps_ex2[0, 0].numel()",
                  "cams_ex2.sum(dim=(-2, -1)) / Z_ex2": "cams_ex2.mean(dim=(-2, -1))"}),
        (PUBLIC, {"maps_ex2.shape[-2] * maps_ex2.shape[-1]": "49"}),  # notebook 02's 7x7, not this input's grid
        (PUBLIC, {"cams_ex2.sum(dim=(-2, -1)) / Z_ex2": "cams_ex2.sum(dim=(-2, -1))"}),
        (HIDDEN, {"cams_ex2.sum(dim=(-2, -1)) / Z_ex2": "logits_ex2"}),  # copies the value the check compares with
    ],
    "ex01_3": [
        (ACCEPT, {"peak_neg = (5, 1)": "peak_neg = divmod(int(M_neg.argmax()), M_neg.shape[-1])"}),
        (ACCEPT, {"peak_neg = (5, 1)": "peak_neg = [5, 1]"}),
        (ACCEPT, {"M_neg = -cam_ex3": "M_neg = cam_ex3 * -1"}),
        (PUBLIC, {"M_neg = -cam_ex3": "M_neg = cam_ex3.flip(0, 1)"}),  # mirrored, not negated
        (PUBLIC, {"M_neg = -cam_ex3": "M_neg = cam_ex3.T"}),
        (PUBLIC, {"M_neg = -cam_ex3": "M_neg = cam_ex3"}),
        (PUBLIC, {"peak_neg = (5, 1)": "peak_neg = (1, 5)"}),  # (x, y), not (row, col)
        (PUBLIC, {"peak_neg = (5, 1)": "peak_neg = divmod(int(cam_ex3.argmax()), 6)"}),  # the old maximum
        (HIDDEN, {"M_neg = -cam_ex3": "M_neg = class_activation_maps(feats_ex3, torch.tensor([[-1.0, 1.0]]))[0, 0]"}),
    ],
    "ex02_1": [
        (ACCEPT, {"raw_cams[1, second_1].mean()": "raw_cams[1][second_1].sum() / raw_cams[1][0].numel()"}),
        (PUBLIC, {"raw_cams[1, second_1].mean()": "raw_cams[1, second_1].sum()"}),
        (PUBLIC, {"raw_cams[1, second_1].mean()": "raw_cams[0, second_1].mean()"}),  # digit 0, the text's example
        (PUBLIC, {"raw_cams[1, second_1].mean()": "raw_cams[1, logits[1].argmax()].mean()"}),  # the predicted class
        (PUBLIC, {"raw_cams[1, second_1].mean()": "raw_cams[1, labels[1]].mean()"}),  # the true class
        (HIDDEN, {"raw_cams[1, second_1].mean()": "logits[1, second_1]"}),  # the value the check compares with
    ],
    "ex02_2": [
        (ACCEPT, {"int(probabilities.max(dim=1).values.argmin())": "int(probabilities.amax(1).argmin())"}),
        (PUBLIC, {"int(probabilities.max(dim=1).values.argmin())": "int(probabilities.max(dim=1).values.argmax())"}),
        (ACCEPT, {"int(probabilities.max(dim=1).values.argmin())": "probabilities.max(dim=1).values.argmin()"}),
        (HIDDEN, {"int(probabilities.max(dim=1).values.argmin())": "int(probabilities.min(dim=1).values.argmin())"}),
        # the lowest top logit: on a batch where its order and the probabilities' agree, only the code tells
        (HIDDEN, {"int(probabilities.max(dim=1).values.argmin())": "int(logits.max(dim=1).values.argmin())"}),
    ],
    "ex02_3": [
        (ACCEPT, {'kept.update(maps=output)': 'kept.__setitem__("maps", output)',
                  'torch.einsum("bk,bkhw->bhw", weights, kept["maps"])':
                      '(weights[:, :, None, None] * kept["maps"]).sum(dim=1)'}),
        (PUBLIC, {"    finally:\n        hook.remove()\n": "    finally:\n        pass\n"}),  # the hook left behind
        (PUBLIC, {"model.features.register_forward_hook": "model.features[-1].register_forward_hook",
                  "    finally:\n        hook.remove()\n": "    finally:\n        pass\n"}),  # left on a submodule
        (PUBLIC, {"weights = model.classifier.weight[classes]": "weights = model.classifier.weight[classes].abs()"}),
        (HIDDEN, {"model.features.register_forward_hook": "model.features[-2].register_forward_hook"}),  # BatchNorm
        (HIDDEN, {"    # BEGIN SOLUTION\n": "    from camlib.methods.cam import compute_cams\n"
                  "    return compute_cams(model, images, classes, size=None).cams\n    # BEGIN SOLUTION\n"}),
    ],
    "ex03_1": [
        (ACCEPT, {"bbox_from_cam(gap_pred.cams, 0.5)": "bbox_from_cam(gap_pred.cams, threshold=0.5)"}),
        (HIDDEN, {"bbox_from_cam(gap_pred.cams, 0.5)": "bbox_from_cam(gap_pred.cams, 0.2)"}),  # the paper's 20 %
        (HIDDEN, {"bbox_from_cam(gap_pred.cams, 0.5), gap_pred.gt_boxes":
                  "bbox_from_cam(gmp_pred.cams, 0.5), gmp_pred.gt_boxes"}),  # the other network
        (PUBLIC, {"answer_1 = gt_known_loc(": "answer_1 = 100 * gt_known_loc("}),  # a percentage
        (HIDDEN, {"answer_1 = gt_known_loc(bbox_from_cam(gap_pred.cams, 0.5), gap_pred.gt_boxes)":
                  'answer_1 = sweeps["GAP"]["gt_known_loc"][sweeps["GAP"]["threshold"].index(0.5)]'}),
    ],
    "ex03_2": [
        (ACCEPT, {"float((inside & miss).sum() / inside.sum())": "float(miss[inside].float().mean())"}),
        (HIDDEN, {"float((inside & miss).sum() / inside.sum())": "float((inside & miss).float().mean())"}),
        (HIDDEN, {"float((inside & miss).sum() / inside.sum())": "float((inside & miss).sum() / miss.sum())"}),
    ],
    "ex03_3": [
        (PUBLIC, {"structure=np.ones((3, 3))": "structure=None"}),  # 4-connectivity for 8
        (PUBLIC, {"cols.max() + 1, rows.max() + 1": "cols.max(), rows.max()"}),  # max inclusive
        (PUBLIC, {"labels == 1 + int(np.argmax(sizes))": "labels > 0"}),  # every component, not the largest
        (HIDDEN, {"    # BEGIN SOLUTION\n": "    from camlib.metrics.localize import bbox_from_cam\n"
                  "    return bbox_from_cam(cam[None], threshold)[0]\n    # BEGIN SOLUTION\n"}),
    ],
    "ex03_4": [
        (ACCEPT, {"hits.append(bool((box_iou(boxes, truth[None]) >= delta).any()))":
                  "hits.append(float(box_iou(boxes, truth[None]).max() >= delta))"}),
        (PUBLIC, {"boxes = boxes_from_cam_all_components(scaled, tau)":
                  "boxes = boxes_from_cam_all_components(cam, tau)"}),  # not min-max scaled
        (PUBLIC, {"boxes = boxes_from_cam_all_components(scaled, tau)":
                  "boxes = bbox_from_cam(scaled[None], tau)"}),  # the largest component only
        (PUBLIC, {"(box_iou(boxes, truth[None]) >= delta).any()": "(box_iou(boxes, truth[None]) >= delta).all()"}),
        (HIDDEN, {"    # BEGIN SOLUTION\n": "    return max_box_acc_v2(cams, gt_boxes, cam_thresholds=[tau], "
                  "iou_thresholds=(delta,)).mean\n    # BEGIN SOLUTION\n"}),
    ],
    "ex04_1": [
        (ACCEPT, {"w[3] / Z": "w[3] * (1 / Z)"}),
        (PUBLIC, {"w[3] / Z": "w[3]"}),
        (PUBLIC, {"w[3] / Z": "w[int(predicted[0])] / Z"}),  # the predicted class, not class 3
        (HIDDEN, {"alpha_by_hand = w[3] / Z": "A0 = maps[:1].clone().requires_grad_(True)\n"
                  "alpha_by_hand = torch.autograd.grad(model.classifier(model.pool(A0).flatten(1))[0, 3], A0)[0][0]"
                  ".mean(dim=(-2, -1))"}),  # measured, not derived
    ],
    "ex04_2": [
        (ACCEPT, {"sharpest = [min(hot_area, key=lambda name: hot_area[name][d]) for d in ds]":
                  "sharpest = [list(hot_area)[int(torch.stack([hot_area[n][d] for n in hot_area]).argmin())] "
                  "for d in ds]"}),
        (PUBLIC, {"sharpest = [min(hot_area, key=lambda name: hot_area[name][d]) for d in ds]":
                  "sharpest = min(hot_area, key=lambda name: hot_area[name].nanmean())"}),  # over all digits
        (HIDDEN, {"sharpest = [min(hot_area, key=lambda name: hot_area[name][d]) for d in ds]":
                  "sharpest = [min(hot_area, key=lambda name: hot_area[name][0]) for d in ds]"}),  # digit 0
        (HIDDEN, {"sharpest = [min(hot_area, key=lambda name: hot_area[name][d]) for d in ds]":
                  'sharpest = ["stage 1"] * len(ds)'}),  # the guess
        (HIDDEN, {"sharpest = [min(hot_area, key=lambda name: hot_area[name][d]) for d in ds]":
                  "sharpest = [max(hot_area, key=lambda name: hot_area[name][d]) for d in ds]"}),
    ],
    "ex04_3": [
        (ACCEPT, {"(-raw_fc).clamp_min(0)": "torch.relu(-raw_fc)"}),
        (PUBLIC, {"(-raw_fc).clamp_min(0)": "-raw_fc"}),  # no ReLU
        (PUBLIC, {"(-raw_fc).clamp_min(0)": "-(raw_fc.clamp_min(0))"}),  # the ReLU before the sign
    ],
    "ex04_4": [
        (PUBLIC, {".clamp_min(0).detach()": ".detach()"}),  # no ReLU
        # HiResCAM, not Grad-CAM: the same at the GAP network's last layer, where the gradient is constant
        (HIDDEN, {"alpha = gradient.mean(dim=(-2, -1), keepdim=True)": "alpha = gradient"}),
        (PUBLIC, {"    finally:\n        hook.remove()\n": "    finally:\n        pass\n"}),
        (HIDDEN, {"    # BEGIN SOLUTION\n": "    from camlib.methods.gradcam import grad_cam\n"
                  "    return grad_cam(model, layer, images, classes)\n    # BEGIN SOLUTION\n"}),
    ],
    "ex04_5": [
        (ACCEPT, {'return (gradient * kept["A"]).sum(dim=1).detach()':
                  'return torch.einsum("bkhw,bkhw->bhw", gradient, kept["A"]).detach()'}),
        # Grad-CAM's averaged gradient, without its ReLU: the map no longer adds up to S_c - b_c
        (PUBLIC, {'return (gradient * kept["A"]).sum(dim=1).detach()':
                  'return (gradient.mean(dim=(-2, -1), keepdim=True) * kept["A"]).sum(dim=1).detach()'}),
        (PUBLIC, {'.sum(dim=1).detach()': '.sum(dim=1).clamp_min(0).detach()'}),  # a ReLU drops negative parts
        (PUBLIC, {'.sum(dim=1).detach()': '.sum(dim=(-2, -1)).detach()'}),  # summed over positions, not channels
        (PUBLIC, {"    finally:\n        hook.remove()\n": "    finally:\n        pass\n"}),
        # each image's predicted class instead of the classes asked for: right on the flatten head's check only
        (HIDDEN, {"scores.gather(1, classes[:, None])": "scores.gather(1, scores.argmax(dim=1, keepdim=True))"}),
        (HIDDEN, {"    # BEGIN SOLUTION\n": "    from camlib.methods.attribution import hirescam\n"
                  "    return hirescam(model, images, classes, layer=layer)\n    # BEGIN SOLUTION\n"}),
    ],
    "ex05_1": [
        (ACCEPT, {"(3 * 3 * 512 * 1024 + 1024) + (1024 * 200 + 200)": "9 * 512 * 1024 + 1024 + 1025 * 200"}),
        (PUBLIC, {"(3 * 3 * 512 * 1024 + 1024) + (1024 * 200 + 200)": "3 * 3 * 512 * 1024 + 1024 * 200"}),  # no biases
        (PUBLIC, {"(1024 * 200 + 200)": "(1024 * 1000 + 1000)"}),  # ImageNet's head, not the birds'
        (HIDDEN, {"(3 * 3 * 512 * 1024 + 1024) + (1024 * 200 + 200)":
                  "sum(p.numel() for p in vgg16_gap(weights=None, num_classes=200).features[30].parameters()) + "
                  "sum(p.numel() for p in vgg16_gap(weights=None, num_classes=200).classifier.parameters())"}),
    ],
    "ex05_2": [
        (ACCEPT, {"(448 // 16, 448 // 32)": "[28, 14]"}),
        (PUBLIC, {"(448 // 16, 448 // 32)": "(448 // 32, 448 // 32)"}),  # pool5 kept
        (PUBLIC, {"(448 // 16, 448 // 32)": "(224 // 16, 224 // 32)"}),  # the 224 input of section 3
        (HIDDEN, {"(448 // 16, 448 // 32)":
                  "tuple(compute_cams(net, torch.zeros(1, 3, 448, 448, device=device), 'predicted', size=None)"
                  ".cams.shape[-1] for net in (gap_net, resnet))"}),  # measured, not from the strides
    ],
    "ex05_3": [
        (ACCEPT, {"row, column = divmod(int(cat_map.argmax()), cat_map.shape[1])":
                  "row, column = (int(i) for i in torch.nonzero(cat_map == cat_map.max())[0])"}),
        (PUBLIC, {"(16 * column, 16 * row, 16 * column + 16, 16 * row + 16)": "(column, row, column + 1, row + 1)"}),
        (PUBLIC, {"16 * column + 16, 16 * row + 16)": "16 * column + 15, 16 * row + 15)"}),  # max inclusive
    ],
    "ex06_1": [
        (ACCEPT, {"answer_1 = cam_0.mean(dim=(1, 2)) + bias": "answer_1 = cam_0.sum(dim=(1, 2)) / 49 + bias"}),
        (HIDDEN, {"answer_1 = cam_0.mean(dim=(1, 2)) + bias": "answer_1 = cam_0.mean(dim=(1, 2))"}),  # no bias
        (HIDDEN, {"answer_1 = cam_0.mean(dim=(1, 2)) + bias": "answer_1 = cam_0.sum(dim=(1, 2)) + bias"}),
        (PUBLIC, {"answer_1 = cam_0.mean(dim=(1, 2)) + bias": "answer_1 = cam_0.mean(dim=(0, 1)) + bias[0]"}),
        (HIDDEN, {"answer_1 = cam_0.mean(dim=(1, 2)) + bias": "answer_1 = from_cams[0]"}),  # computed in section 3
        (HIDDEN, {"answer_1 = cam_0.mean(dim=(1, 2)) + bias": "answer_1 = decisions[0]"}),
    ],
    "ex06_2": [
        (HIDDEN, {"centre = (test_canvases.boxes[:, :2] + test_canvases.boxes[:, 2:]) / 2":
                  "centre = test_canvases.boxes[:, :2]"}),  # the corner, not the centre
        (HIDDEN, {"answer_2 = float(inside.float().mean())": "answer_2 = 0.5"}),
    ],
    "ex07_1": [
        (ACCEPT, {"answer_1 = float((s.sum() - s[0] / 2 - s[-1] / 2) / (len(s) - 1))":
                  "answer_1 = float(((s[1:] + s[:-1]) / 2).mean())"}),
        (HIDDEN, {"(len(s) - 1))": "len(s))"}),  # n + 1 points, n steps
        (PUBLIC, {"answer_1 = float((s.sum() - s[0] / 2 - s[-1] / 2) / (len(s) - 1))":
                  "answer_1 = float(s.sum() - s[0] / 2 - s[-1] / 2)"}),  # steps of 1, not 1/n
        (HIDDEN, {"answer_1 = float((s.sum() - s[0] / 2 - s[-1] / 2) / (len(s) - 1))":
                  "answer_1 = float(s.mean())"}),  # the mean of the points, not the trapezoid rule
        (HIDDEN, {"answer_1 = float((s.sum() - s[0] / 2 - s[-1] / 2) / (len(s) - 1))":
                  'answer_1 = float(curves["cam"][0].auc[0])'}),  # the value the curve already holds
    ],
    "ex07_2": [
        (PUBLIC, {"w_1.clamp_min(0) / (2": "w_1 / (2"}),  # no ReLU of the weight
        (HIDDEN, {"answer_2 = torch.where(": "answer_2 = closed_form[1]\n_unused = torch.where("}),
    ],
    "ex07_3": [
        (PUBLIC, {"randomized = copy.deepcopy(model)": "randomized = model"}, True),  # an alias, not a copy
    ],
    "ex08_1": [
        (ACCEPT, {"weights = model.classifier.weight.detach()[second_ex]":
                  "weights = model.classifier.weight.detach().index_select(0, second_ex)"}),
        (PUBLIC, {"weights = model.classifier.weight.detach()[second_ex]":
                  "weights = model.classifier.weight.detach()[labels[:4]]"}),  # the true class
        (HIDDEN, {'.reshape(4, *model.grid)': '.reshape(4, *model.grid).transpose(1, 2)'}),  # column by column
        (PUBLIC, {'.reshape(4, *model.grid)': '.reshape(4, *model.grid).clamp_min(0)'}),  # a ReLU
        (PUBLIC, {'torch.einsum("bnk,bk->bn", tokens, weights)':
                  '(torch.einsum("bnk,bk->bn", tokens, weights) + model.classifier.bias.detach()[second_ex, None])'}),
        (PUBLIC, {"    handle.remove()\n": "    pass\n"}),  # the hook left on the model
        (HIDDEN, {'answer_1 = torch.einsum("bnk,bk->bn", tokens, weights).reshape(4, *model.grid)':
                  "answer_1 = compute_token_cams(model, canvases[:4], second_ex)[1]"}),
    ],
    "ex08_2": [
        (PUBLIC, {"tokens[:, 1:]": "tokens[:, :-1]"}),  # drops the last token, keeps CLS
        (HIDDEN, {"    return tokens[:, 1:].reshape": "    return token_reshape(cls_model.grid, 1)(tokens)\n"
                  "    return tokens[:, 1:].reshape"}),
        (HIDDEN, {"\nanswer_2 = grad_cam(cls_model": "\nmy_reshape = cls_reshape\nanswer_2 = grad_cam(cls_model"}),
    ],
}


def variants(name: str, master: str) -> list[list]:
    """[kind, the answer cell's source, restore] of every other answer to question ``name``."""
    found = []
    for kind, change, *restore in ANSWERS.get(name, []):
        if isinstance(change, str):
            source = change
        else:
            source = master
            for old, new in change.items():
                assert old in source, f"{name}: {old!r} is not in the master's answer any more"
                source = source.replace(old, new)
        found.append([kind, source, bool(restore and restore[0])])
    return found


def judge(name: str, kind: str, source: str, public: bool, hidden: bool, public_says: str,
          hidden_says: str) -> list[str]:
    """What is wrong with how the checks treated one answer (empty when nothing is)."""
    shown = "\n    ".join(source.strip().splitlines()[-6:])
    if public_says.startswith("the answer raised"):  # a mistake must be rejected by a check, not by Python
        return [f"{name}: the answer itself fails to run ({public_says}):\n    {shown}"]
    if kind == ACCEPT and not (public and hidden):
        return [f"{name}: a right answer is rejected ({public_says or hidden_says}):\n    {shown}"]
    if kind == PUBLIC and public:
        return [f"{name}: the student's own check passes a common mistake:\n    {shown}"]
    if kind == HIDDEN and hidden:
        return [f"{name}: no test rejects this answer:\n    {shown}"]
    if kind != ACCEPT and not hidden and re.search(r"AssertionError: *(\n|$)", hidden_says):
        return [f"{name}: a hidden test rejects this answer without saying why:\n    {shown}"]
    return []
