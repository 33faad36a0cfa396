"""The comparison the deployment parity tests rely on
(:mod:`swiftformer_mm.export.compare`): it must find what differs."""
import numpy as np

from swiftformer_mm.export.compare import match_detections, off_edge_pixels


def square(size=12, top=3, left=4, side=6):
    mask = np.zeros((size, size), bool)
    mask[top:top + side, left:left + side] = True
    return mask


def detections(boxes, scores, labels, masks=None):
    out = dict(bboxes=np.array(boxes, np.float32),
               scores=np.array(scores, np.float32),
               labels=np.array(labels))
    if masks is not None:
        out['masks'] = np.stack(masks)
    return out


def test_a_mask_edge_moved_by_a_pixel_is_on_the_edge():
    ref = square()
    grown = square(side=7)  # one more row and column along two edges
    assert off_edge_pixels(ref, grown) == 0
    assert off_edge_pixels(ref, ref) == 0


def test_a_hole_or_a_far_pixel_is_off_the_edge():
    ref = square()
    holed = ref.copy()
    holed[5, 6] = False  # inside, two pixels from the edge
    assert off_edge_pixels(ref, holed) == 1
    speck = ref.copy()
    speck[0, 0] = True  # far outside
    assert off_edge_pixels(ref, speck) == 1


def test_match_detections_counts_labels_boxes_and_masks():
    ref = detections([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]],
                     [0.9, 0.5, 0.1], [0, 1, 0],
                     [square(), square(), square()])
    holed = square()
    holed[5, 6] = False
    other = detections([[0, 0, 10, 10.05], [20, 20, 30, 30]], [0.8999, 0.5],
                       [0, 2], [holed, square()])
    stats = match_detections(ref, other, min_score=0.3, min_iou=0.99)
    # the 0.1 one is below the threshold; the second has another label
    assert stats['total'] == 2 and stats['matched'] == 1
    assert 0.99 < stats['min_iou'] < 1
    assert abs(stats['max_score_diff'] - 1e-4) < 1e-6
    assert stats['max_mask_pixels_diff'] == 1
    assert stats['max_mask_pixels_off_edge'] == 1
    assert stats['min_mask_iou'] == 35 / 36


def test_agreement_counts_what_changed_prediction_by_prediction():
    from swiftformer_mm.export.compare import agreement
    ref = detections([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]],
                     [0.9, 0.5, 0.1], [0, 1, 0])
    # the first box grown by 0.8 px (IoU 0.93), the second gone, the low
    # scoring third not counted
    other = detections([[0, 0, 10, 10.8]], [0.9], [0])
    got = agreement([(ref, ref), (ref, other)])
    assert got == {'box IoU >= 0.9': 75.0, 'box IoU >= 0.95': 50.0,
                   'detections': 4}
    seg = dict(sem_seg=np.zeros((1, 4, 4), int))
    moved = dict(sem_seg=seg['sem_seg'].copy())
    moved['sem_seg'][0, 0, :2] = 1
    assert agreement([(seg, seg), (seg, moved)]) == {'pixel labels': 93.75}
    cls = dict(class_scores=np.array([0.1, 0.7, 0.2]))
    flipped = dict(class_scores=np.array([0.1, 0.3, 0.6]))
    assert agreement([(cls, cls), (cls, cls), (cls, flipped),
                      (cls, cls)]) == {'top-1 labels': 75.0}
