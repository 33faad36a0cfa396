"""Runs a deployed folder with mmdeploy's SDK (``mmdeploy_runtime``, in its
own venv: it needs numpy < 2) on images and saves what it returns, for
tests/test_sdk.py:

    SDK_PYTHON tests/sdk_runner.py {det,seg,cls} MODEL_DIR OUT.npz IMAGE...

Only the SDK, numpy and OpenCV: nothing of this project or of torch.
"""
import sys

import cv2
import numpy as np
from mmdeploy_runtime import Classifier, Detector, Segmentor


def main():
    task, model_dir, out = sys.argv[1:4]
    model = dict(det=Detector, seg=Segmentor, cls=Classifier)[task](
        model_path=model_dir, device_name='cpu', device_id=0)
    results = {}
    for i, path in enumerate(sys.argv[4:]):
        img = cv2.imread(path)
        if task == 'det':
            dets, labels, _ = model(img)
            results[f'{i}_dets'], results[f'{i}_labels'] = dets, labels
        elif task == 'seg':
            results[f'{i}_scores'] = model(img)  # (C, H, W) or (H, W)
        else:
            results[f'{i}_top'] = np.array(model(img), dtype=np.float64)
    np.savez(out, **results)


if __name__ == '__main__':
    main()
