"""Runs a deployed folder with mmdeploy's SDK (``mmdeploy_runtime``, in its
own venv: it needs numpy < 2) on images and saves what it returns, for
tests/test_sdk.py:

    SDK_PYTHON tests/sdk_runner.py {det,seg,cls,det-c} MODEL_DIR OUT.npz IMAGE...

``det-c`` runs the detector through the SDK's C API (the functions C and C++
hosts call, in the wheel's ``libmmdeploy.so.1``), with a profiler added to
its context: that is the way around SDK 1.3.1's Mask R-CNN race that needs
no rebuild (docs/deployment.md), and the only way to add one from Python,
whose ``Detector`` takes no context.

Only the SDK, numpy and OpenCV: nothing of this project or of torch.
"""
import ctypes
import glob
import math
import os.path as osp
import sys
import tempfile

import cv2
import mmdeploy_runtime
import numpy as np
from mmdeploy_runtime import Classifier, Detector, Segmentor


class Mat(ctypes.Structure):  # mmdeploy_mat_t (mmdeploy/common.h)
    _fields_ = [('data', ctypes.c_void_p), ('height', ctypes.c_int),
                ('width', ctypes.c_int), ('channel', ctypes.c_int),
                ('format', ctypes.c_int), ('type', ctypes.c_int),
                ('device', ctypes.c_void_p)]


class InstanceMask(ctypes.Structure):  # mmdeploy_instance_mask_t
    _fields_ = [('data', ctypes.POINTER(ctypes.c_uint8)),
                ('height', ctypes.c_int), ('width', ctypes.c_int)]


class Detection(ctypes.Structure):  # mmdeploy_detection_t (detector.h)
    _fields_ = [('label_id', ctypes.c_int), ('score', ctypes.c_float),
                ('bbox', ctypes.c_float * 4),
                ('mask', ctypes.POINTER(InstanceMask))]


PROFILER = 5  # MMDEPLOY_TYPE_PROFILER
BGR, UINT8 = 0, 2  # MMDEPLOY_PIXEL_FORMAT_BGR, MMDEPLOY_DATA_TYPE_UINT8


def check(status, call):
    if status != 0:
        raise RuntimeError(f'{call} failed with mmdeploy status {status}')


class ProfiledDetector:
    """The C API's detector with a profiler in its context, as a C host
    builds it::

        mmdeploy_context_create_by_device("cpu", 0, &context);
        mmdeploy_profiler_create("profile.bin", &profiler);
        mmdeploy_context_add(context, MMDEPLOY_TYPE_PROFILER, NULL, profiler);
        mmdeploy_detector_create_v2(model, context, &detector);

    A profiler makes the SDK's network step wait for its output copies
    (``NetModule::Forward``: ``if (is_profiling_) stream_.Wait()``), which
    ``ResizeInstanceMask`` then reads complete.
    """

    def __init__(self, model_dir):
        self.lib = lib = ctypes.CDLL(glob.glob(osp.join(
            osp.dirname(mmdeploy_runtime.__file__), 'libmmdeploy.so*'))[0])
        lib.mmdeploy_detector_apply.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(Mat), ctypes.c_int,
            ctypes.POINTER(ctypes.POINTER(Detection)),
            ctypes.POINTER(ctypes.POINTER(ctypes.c_int))]
        lib.mmdeploy_detector_release_result.argtypes = [
            ctypes.POINTER(Detection), ctypes.POINTER(ctypes.c_int),
            ctypes.c_int]
        for name in ('model', 'context', 'profiler', 'detector'):
            setattr(self, name, ctypes.c_void_p())
        check(lib.mmdeploy_model_create_by_path(
            model_dir.encode(), ctypes.byref(self.model)), 'model_create')
        check(lib.mmdeploy_context_create_by_device(
            b'cpu', 0, ctypes.byref(self.context)), 'context_create')
        self.profile = tempfile.mkdtemp() + '/profile.bin'
        check(lib.mmdeploy_profiler_create(
            self.profile.encode(), ctypes.byref(self.profiler)),
            'profiler_create')
        check(lib.mmdeploy_context_add(self.context, PROFILER, None,
                                       self.profiler), 'context_add')
        check(lib.mmdeploy_detector_create_v2(
            self.model, self.context, ctypes.byref(self.detector)),
            'detector_create_v2')

    def __call__(self, img):
        """``(dets (N, 5), labels (N,), masks)``, as the Python
        ``Detector`` returns them: each mask the box's crop
        (``ResizeInstanceMask``: from floor(x0) - 1 to ceil(x1) + 1)."""
        img = np.ascontiguousarray(img)
        mat = Mat(img.ctypes.data, img.shape[0], img.shape[1], 3, BGR, UINT8,
                  None)
        results = ctypes.POINTER(Detection)()
        counts = ctypes.POINTER(ctypes.c_int)()
        check(self.lib.mmdeploy_detector_apply(
            self.detector, ctypes.byref(mat), 1, ctypes.byref(results),
            ctypes.byref(counts)), 'detector_apply')
        dets, labels, masks = [], [], []
        for det in results[:counts[0]]:
            dets.append([*det.bbox, det.score])
            labels.append(det.label_id)
            mask = det.mask.contents if det.mask else None
            masks.append(None if mask is None else np.ctypeslib.as_array(
                mask.data, (mask.height, mask.width)).copy())
        self.lib.mmdeploy_detector_release_result(results, counts, 1)
        return (np.array(dets, np.float32).reshape(-1, 5),
                np.array(labels, np.int32), masks)

    def close(self):
        self.lib.mmdeploy_detector_destroy(self.detector)
        self.lib.mmdeploy_context_destroy(self.context)
        self.lib.mmdeploy_profiler_destroy(self.profiler)
        self.lib.mmdeploy_model_destroy(self.model)


def pasted(masks, dets, shape):
    """Each SDK mask, a crop at its box, pasted into an image-sized mask."""
    full = np.zeros((len(masks), *shape), bool)
    for k, (mask, det) in enumerate(zip(masks, dets)):
        x0 = int(max(math.floor(det[0]) - 1, 0))
        y0 = int(max(math.floor(det[1]) - 1, 0))
        full[k, y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] = mask > 0
    return full


def main():
    task, model_dir, out = sys.argv[1:4]
    if task == 'det-c':
        model = ProfiledDetector(model_dir)
    else:
        model = dict(det=Detector, seg=Segmentor, cls=Classifier)[task](
            model_path=model_dir, device_name='cpu', device_id=0)
    results = {}
    for i, path in enumerate(sys.argv[4:]):
        img = cv2.imread(path)
        if task.startswith('det'):
            dets, labels, masks = model(img)
            results[f'{i}_dets'], results[f'{i}_labels'] = dets, labels
            if masks and all(m is not None and m.size for m in masks):
                results[f'{i}_masks'] = pasted(masks, dets, img.shape[:2])
        elif task == 'seg':
            results[f'{i}_scores'] = model(img)  # (C, H, W) or (H, W)
        else:
            results[f'{i}_top'] = np.array(model(img), dtype=np.float64)
    if task == 'det-c':
        model.close()
    np.savez(out, **results)


if __name__ == '__main__':
    main()
